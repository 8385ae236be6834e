import { describe, expect, it } from 'vitest';
import { newExposures } from '../../src/diff/new-exposures.js';
import { makeProcess, makeSocket } from '../helpers/make.js';

const p = makeProcess({ pid: 7, name: 'curl', user: 'alice' });
const conn = (remote: string, inode: number) => makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 40000 + inode, remoteAddress: remote, remotePort: 443, inode, owners: [{ pid: 7, fd: 3 }] });

describe('newExposures', () => {
  it('warns about a new listener but not about a listener that only changed owner', () => {
    const fresh = makeSocket({ localPort: 31337, inode: 1, owners: [{ pid: 7, fd: 3 }] });
    const moved = makeSocket({ localPort: 80, inode: 2, owners: [{ pid: 7, fd: 4 }] });
    const before = makeSocket({ localPort: 80, inode: 2, owners: [{ pid: 1, fd: 4 }] });
    const out = newExposures({ sockets: [fresh, moved], processes: [p] }, [fresh, moved], [before]);
    expect(out.map((e) => e.text)).toEqual(['new listener tcp 127.0.0.1:31337 (curl, pid 7, user alice)']);
  });

  it('warns once per new external destination, and not for private ones or ones already in use', () => {
    const a = conn('185.220.101.5', 10);
    const b = conn('185.220.101.5', 11);
    const lan = conn('192.168.1.20', 12);
    const known = conn('8.8.8.8', 13);
    const again = conn('8.8.8.8', 14);
    const out = newExposures({ sockets: [a, b, lan, known, again], processes: [p] }, [a, b, lan, again], []);
    expect(out.map((e) => e.text)).toEqual(['new external destination 185.220.101.5:443 (curl, pid 7, user alice)']);
  });

  it('takes a client coming in on a listening port for no destination, also when the selection left the listener out', () => {
    const sshd = makeSocket({ localAddress: '0.0.0.0', localPort: 22, inode: 20, owners: [{ pid: 7, fd: 3 }] });
    const accepted = makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 22, remoteAddress: '185.220.101.5', remotePort: 51000, inode: 21, owners: [{ pid: 7, fd: 4 }] });
    expect(newExposures({ sockets: [sshd, accepted], processes: [p] }, [accepted], [])).toEqual([]);
    // The listener is not in the inventory (an ephemeral port, a --match of ESTABLISHED), but the capture recorded its port.
    const alone = { sockets: [accepted], processes: [p], listeningPortsLeftOut: [{ netns: accepted.netns, transport: 'tcp' as const, port: 22 }] };
    expect(newExposures(alone, [accepted], [])).toEqual([]);
    // Without that record (a snapshot of an older netmon), it reads as outbound, as before.
    expect(newExposures({ sockets: [accepted], processes: [p] }, [accepted], []).map((e) => e.kind)).toEqual(['new-external-destination']);
  });

  it('names the namespace of a socket outside the host namespace, as diff does', () => {
    const inner = makeSocket({ localPort: 18113, inode: 30, netns: 4026532177, owners: [{ pid: 7, fd: 3 }] });
    const namespaces = [
      { inode: 4026531840, name: 'host', host: true, processes: 1, sockets: 0, read: true },
      { inode: 4026532177, name: null, host: false, processes: 1, sockets: 1, read: true },
    ];
    expect(newExposures({ sockets: [inner], processes: [p], namespaces }, [inner], []).map((e) => e.text)).toEqual(['new listener tcp 127.0.0.1:18113 in namespace netns:4026532177 (curl, pid 7, user alice)']);
  });

  it('never names a container called "host" as the host namespace (finding rules 4 labels)', () => {
    const inner = makeSocket({ localPort: 18114, inode: 31, netns: 4026532178, owners: [{ pid: 7, fd: 3 }] });
    const namespaces = [
      { inode: 4026531840, name: 'host', host: true, processes: 1, sockets: 0, read: true },
      { inode: 4026532178, name: 'host', host: false, processes: 1, sockets: 1, read: true },
    ];
    expect(newExposures({ sockets: [inner], processes: [p], namespaces }, [inner], []).map((e) => e.text)).toEqual(['new listener tcp 127.0.0.1:18114 in namespace netns-name:host (curl, pid 7, user alice)']);
  });
});
