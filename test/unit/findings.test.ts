import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../src/diff/diff-snapshots.js';
import { loadControlsCatalogue } from '../../src/findings/controls.js';
import { evaluateFindings } from '../../src/findings/evaluate-findings.js';
import { parseExpectedChanges } from '../../src/findings/expected-changes.js';
import { renderFindingsText } from '../../src/outputs/findings.js';
import type { ProcessRecord, SocketRecord } from '../../src/model/types.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const catalogue = loadControlsCatalogue();
const web = makeProcess({ pid: 10, name: 'nginx', executable: '/usr/sbin/nginx', user: 'root', uid: 0, commandLine: ['nginx'] });

function findings(after: SocketRecord[], processes: ProcessRecord[], before: SocketRecord[] = []) {
  return evaluateFindings(diffSnapshots(makeSnapshot({ sockets: before, processes: [web] }), makeSnapshot({ sockets: after, processes })), catalogue);
}

const listenOn = (port: number, pid: number, address = '0.0.0.0') => makeSocket({ localAddress: address, localPort: port, inode: port, owners: [{ pid, fd: 3 }] });

describe('evaluateFindings', () => {
  it('says what changed of a listener\'s process, before and after, and titles a change without a new executable as such (an auditor probe)', () => {
    const relaunched = makeProcess({ ...web, pid: 11, commandLine: ['nginx', '-g', 'daemon off;', '-c', `/etc/${'x'.repeat(100)}.conf`] });
    const [f] = findings([listenOn(8080, 11)], [relaunched], [listenOn(8080, 10)]);
    expect(f!.kind).toBe('process-changed');
    expect(f!.title).toBe('Listener process changed (same executable)');
    expect(f!.summary).toBe(`listener tcp 0.0.0.0:8080 now belongs to nginx, pid 11, user root (was nginx, pid 10, user root; changed: commandLine "nginx" -> "nginx -g daemon off; -c /etc/${'x'.repeat(50)}\u2026")`);
    const other = makeProcess({ pid: 12, name: 'httpd', executable: '/opt/x/httpd', user: 'www', uid: 33, commandLine: ['httpd'] });
    const [taken] = findings([listenOn(8080, 12)], [other], [listenOn(8080, 10)]);
    expect(taken!.title).toBe('Port taken over by another process');
    expect(taken!.summary).toContain('changed: executable "/usr/sbin/nginx" -> "/opt/x/httpd"; user "root" -> "www"; commandLine "nginx" -> "httpd"');
  });

  it('names a process whose record has no name (it ended while the capture read it) as such, not with a blank (a probe)', () => {
    const gone = makeProcess({ pid: 11170, name: '', executable: null, user: null, uid: null, commandLine: [] });
    const closed = evaluateFindings(diffSnapshots(makeSnapshot({ sockets: [listenOn(8080, 11170)], processes: [gone] }), makeSnapshot({ sockets: [] })), catalogue);
    expect(closed.find((f) => f.kind === 'listener-closed')!.summary).toBe('listener tcp 0.0.0.0:8080 closed (was (name not read), pid 11170, user ?)');
  });

  it('maps a finding to its controls, primary before supporting, and says which are legacy', () => {
    const [f] = findings([listenOn(8080, 10)], [web]);
    expect(f!.kind).toBe('listener-opened');
    expect(f!.severity).toBe('medium');
    expect(f!.controls.map((c) => c.key)).toContain('csf2:DE.CM-09');
    expect(f!.controls.find((c) => c.key === 'pcidss:1.2.5')?.role).toBe('primary');
    const firstSupporting = f!.controls.findIndex((c) => c.role === 'supporting');
    expect(f!.controls.slice(0, firstSupporting).every((c) => c.role === 'primary')).toBe(true);
    expect(f!.controls.filter((c) => c.framework === 'ffiec-cat').every((c) => c.legacy)).toBe(true);
    expect(f!.summary).toBe('new listener tcp 0.0.0.0:8080 (nginx, pid 10, user root)');
    expect(f!.observed).toEqual({ before: '2026-11-23T01:02:03.000Z', after: '2026-11-23T01:02:03.000Z' });
    expect(f!.approval).toBe('unexpected');
  });

  it('cites a control under its mapping\'s condition only when the captures show it holds', () => {
    const keys = (f: { controls: { key: string; role: string }[] } | undefined) => new Map(f!.controls.map((c) => [c.key, c.role]));
    // PCI DSS 1.2.6 (insecure services) for a new Telnet listener, not for a web server.
    const inetd = makeProcess({ pid: 30, name: 'inetd', executable: '/usr/sbin/inetd', user: 'root', uid: 0, commandLine: ['inetd'] });
    expect(keys(findings([listenOn(23, 30)], [inetd])[0]).get('pcidss:1.2.6')).toBe('supporting');
    expect(keys(findings([listenOn(8080, 10, '127.0.0.1')], [web])[0]).has('pcidss:1.2.6')).toBe(false);
    // Nor for one on every interface, which also cites the all-interfaces mapping (an auditor probe found 1.2.6 there).
    expect(keys(findings([listenOn(8443, 10, '0.0.0.0')], [web])[0]).has('pcidss:1.2.6')).toBe(false);
    expect(keys(findings([listenOn(23, 30, '0.0.0.0')], [inetd])[0]).get('pcidss:1.2.6')).toBe('supporting');
    // File integrity (PCI DSS 11.5.2, SP 800-53 SI-7) for a port taken over by another executable, not for a new user of the same one.
    const sameBinary = makeProcess({ ...web, pid: 11, user: 'www-data', uid: 33, euid: 33 });
    const otherBinary = makeProcess({ pid: 12, name: 'httpd', executable: '/opt/x/httpd', user: 'root', uid: 0, commandLine: ['httpd'], hashes: { blake3: 'c'.repeat(64), sha256: 'd'.repeat(64), size: 9 } });
    const [user] = findings([listenOn(8080, 11)], [sameBinary], [listenOn(8080, 10)]);
    expect(user!.kind).toBe('process-changed');
    expect(keys(user).has('pcidss:11.5.2')).toBe(false);
    expect(keys(user).has('sp80053:SI-7')).toBe(false);
    const [takeover] = findings([listenOn(8080, 12)], [otherBinary], [listenOn(8080, 10)]);
    expect(takeover!.kind).toBe('process-changed');
    expect(keys(takeover).get('pcidss:11.5.2')).toBe('supporting');
    expect(keys(takeover).get('sp80053:SI-7')).toBe('supporting');
    // PCI DSS 10.7.2 (failures of security controls) is supporting for a closed port: which ports belong to one is the reviewer's call.
    expect(keys(findings([], [web], [listenOn(8080, 10)])[0]).get('pcidss:10.7.2')).toBe('supporting');
    // PCI DSS 11.5.2 for monitoring evidence only when the processes concerned were hashed.
    const out = makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '127.0.0.1', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: 5432, inode: 99, owners: [{ pid: 10, fd: 9 }] });
    const hashed = findings([out], [web]).find((f) => f.kind === 'outbound-opened');
    const unhashed = findings([out], [{ ...web, hashes: undefined }]).find((f) => f.kind === 'outbound-opened');
    expect(keys(hashed).has('pcidss:11.5.2')).toBe(true);
    expect(keys(unhashed).has('pcidss:11.5.2')).toBe(false);
  });

  it('raises the severity for a back-door port held by a non-root process in /tmp, and says why', () => {
    const shell = makeProcess({ pid: 7821, name: 'python3', executable: '/tmp/.x/python3', user: 'alice', uid: 1000, commandLine: ['python3', 'x.py'] });
    const [f] = findings([listenOn(31337, 7821)], [shell]);
    expect(f!.severity).toBe('critical');
    expect(f!.reasons).toEqual(['port 31337 is a classic back-door port', 'the executable runs from /tmp/.x/python3, a temporary or home directory']);
  });

  it('raises cleartext services and privileged ports held by non-root to high', () => {
    const telnetd = makeProcess({ pid: 30, name: 'inetd', executable: '/usr/sbin/inetd', user: 'nobody', uid: 65534, commandLine: ['inetd'] });
    const [f] = findings([listenOn(23, 30)], [telnetd]);
    expect(f!.severity).toBe('high');
    expect(f!.reasons).toEqual(['port 23 is Telnet, a cleartext service', 'privileged port 23 held by a non-root process (uid 65534)']);
  });

  it('treats a deleted executable as critical', () => {
    const gone = makeProcess({ pid: 40, name: 'sshd', executable: '/usr/sbin/sshd', executableDeleted: true, uid: 0, user: 'root' });
    expect(findings([listenOn(2222, 40)], [gone])[0]!.severity).toBe('critical');
    // Deleted or replaced: the kernel's "(deleted)" says the image is no longer at the path, not which (an auditor probe read "deleted" for a file renamed over it).
    expect(findings([listenOn(2222, 40)], [gone])[0]!.reasons).toContain('the executable /usr/sbin/sshd was deleted or replaced on disk after the process started (it runs an image no longer at that path)');
  });

  it('gives the same id to the same change in another run, and another id to another change', () => {
    const a = findings([listenOn(8080, 10)], [web])[0]!.id;
    expect(a).toMatch(/^NM-[0-9a-f]{12}$/);
    expect(findings([listenOn(8080, 10)], [web])[0]!.id).toBe(a);
    expect(findings([listenOn(8081, 10)], [web])[0]!.id).not.toBe(a);
  });

  it('names the namespace of a widened exposure outside the host namespace, so two namespaces read apart', () => {
    const blue = { inode: 4026532999, name: 'blue', host: false, processes: 1, sockets: 1, read: true };
    const inBlue = (address: string) => ({ ...listenOn(8080, 10, address), netns: blue.inode });
    const snap = (sockets: SocketRecord[]) => {
      const s = makeSnapshot({ sockets, processes: [web] });
      return { ...s, namespaces: [...s.namespaces, blue] };
    };
    const [f] = evaluateFindings(diffSnapshots(snap([inBlue('127.0.0.1')]), snap([inBlue('0.0.0.0')])), catalogue);
    expect(f?.kind).toBe('exposure-widened');
    expect(f?.summary).toMatch(/^TCP port 8080 in namespace blue was bound to loopback only, now to 0\.0\.0\.0/);
    const [host] = findings([listenOn(8080, 10)], [web], [listenOn(8080, 10, '127.0.0.1')]);
    expect(host?.summary).toMatch(/^TCP port 8080 was bound to loopback only/);
  });

  it('has no heuristic reasons for closings', () => {
    const [f] = findings([], [web], [listenOn(31337, 10)]);
    expect(f!.kind).toBe('listener-closed');
    expect(f!.reasons).toEqual([]);
    expect(f!.severity).toBe('low');
  });
});

describe('the coverage finding', () => {
  it('states the coverage of the sockets a process can own, before and after', () => {
    const denied = makeSocket({ localPort: 81, inode: 81, owners: [], unattributed: 'permission-denied' });
    const timeWait = makeSocket({ localAddress: '10.0.0.5', localPort: 443, remoteAddress: '203.0.113.9', remotePort: 40001, state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, owners: [], unattributed: 'kernel-owned' });
    const report = findings([listenOn(80, 10), denied, timeWait], [web], [listenOn(80, 10), timeWait]);
    const coverage = report.find((f) => f.kind === 'coverage-changed');
    expect(coverage?.summary).toBe('attribution coverage 100.0% -> 50.0% of the sockets a process can own (kernel-owned ones, such as TIME_WAIT, left out)');
  });
});

describe('finding rules 2 (packs record the rules; verify --db makes findings again by the same ones)', () => {
  const both = (before: SocketRecord[], beforeProcs: ProcessRecord[], after: SocketRecord[], afterProcs: ProcessRecord[], rules?: number) =>
    evaluateFindings(diffSnapshots(makeSnapshot({ sockets: before, processes: beforeProcs }), makeSnapshot({ sockets: after, processes: afterProcs }), { rules }), catalogue, { rules });
  const on = (port: number, pid: number, address: string, transport: 'tcp' | 'udp' = 'tcp') =>
    makeSocket({ localAddress: address, localPort: port, transport, state: transport === 'udp' ? 'UNCONN' : 'LISTEN', inode: port * 10 + (transport === 'udp' ? 1 : 0) + (address === '127.0.0.1' ? 0 : 5), owners: [{ pid, fd: 3 }] });

  it('gives an exposure widened on TCP and on UDP of one port two ids, and names the protocol (rules 1 gave both one id)', () => {
    const before = [on(18140, 10, '127.0.0.1'), on(18140, 10, '127.0.0.1', 'udp')];
    const after = [on(18140, 10, '0.0.0.0'), on(18140, 10, '0.0.0.0', 'udp')];
    const now = both(before, [web], after, [web]);
    expect(now.map((f) => f.kind)).toEqual(['exposure-widened', 'exposure-widened']);
    expect(new Set(now.map((f) => f.id)).size).toBe(2);
    expect(now.map((f) => f.summary.split(' ')[0]).sort()).toEqual(['TCP', 'UDP']);
    const old = both(before, [web], after, [web], 1);
    expect(new Set(old.map((f) => f.id)).size).toBe(1);
  });

  it('finds a replaced binary beside a changed user, which rules 1 hid', () => {
    const was = makeProcess({ pid: 10, executable: '/usr/sbin/nginx', uid: 0, user: 'root', commandLine: ['nginx'], hashes: { blake3: 'a'.repeat(64), sha256: '1'.repeat(64), size: 1 } });
    const now = makeProcess({ pid: 11, executable: '/usr/sbin/nginx', uid: 1, user: 'daemon', commandLine: ['nginx'], hashes: { blake3: 'c'.repeat(64), sha256: '2'.repeat(64), size: 1 } });
    const kinds = (rules?: number) => both([on(8443, 10, '0.0.0.0')], [was], [on(8443, 11, '0.0.0.0')], [now], rules).map((f) => f.kind).sort();
    expect(kinds()).toEqual(['binary-changed', 'process-changed']);
    expect(kinds(1)).toEqual(['process-changed']);
  });

  it('finds an executable replaced on disk under the same running process, its image unchanged', () => {
    const was = makeProcess({ pid: 10, executable: '/usr/sbin/nginx', uid: 0, user: 'root', commandLine: ['nginx'] });
    const now = { ...was, executableDeleted: true };
    const [f, ...rest] = both([on(8443, 10, '0.0.0.0')], [was], [on(8443, 10, '0.0.0.0')], [now]);
    expect(rest).toEqual([]);
    expect(f?.kind).toBe('binary-changed');
    expect(f?.severity).toBe('critical');
    expect(f?.summary).toMatch(/^the executable file of listener tcp 0\.0\.0\.0:8443, \/usr\/sbin\/nginx, was replaced or deleted on disk while python3, pid 10, user root runs on/);
    expect(both([on(8443, 10, '0.0.0.0')], [was], [on(8443, 10, '0.0.0.0')], [now], 1)).toEqual([]);
  });

  it('takes a changed effective uid for a changed user, and reads it for the privileged-port rule', () => {
    const was = makeProcess({ pid: 10, executable: '/usr/bin/srv', uid: 65534, euid: 65534, user: 'nobody', commandLine: ['srv'] });
    const now = { ...was, euid: 0 };
    const [f] = both([on(8080, 10, '0.0.0.0')], [was], [on(8080, 10, '0.0.0.0')], [now]);
    expect(f).toMatchObject({ kind: 'process-changed', change: { fields: ['user'] } });
    expect(both([on(8080, 10, '0.0.0.0')], [was], [on(8080, 10, '0.0.0.0')], [now], 1)).toEqual([]);
    // A setuid-root server on port 80 is root: no "non-root" reason; rules 1 read the real uid.
    const setuid = makeProcess({ pid: 20, executable: '/usr/bin/srv', uid: 1000, euid: 0, user: 'alice' });
    expect(both([], [web], [on(80, 20, '0.0.0.0')], [setuid])[0]!.reasons.join()).not.toMatch(/non-root/);
    expect(both([], [web], [on(80, 20, '0.0.0.0')], [setuid], 1)[0]!.reasons.join()).toMatch(/non-root process \(uid 1000\)/);
  });

  it('rates a collapse of attribution by how far it fell (a check that lost sight of the host is not a low), and a rise as info', () => {
    const sockets = Array.from({ length: 10 }, (_, k) => makeSocket({ listening: false, state: 'ESTABLISHED', localPort: 40000 + k, remoteAddress: '10.0.0.9', remotePort: 443, inode: 500 + k, owners: [{ pid: 10, fd: 3 + k }] }));
    const seen = (n: number) => sockets.map((s, k) => (k < n ? s : { ...s, owners: [], unattributed: 'permission-denied' as const }));
    const rate = (from: number, to: number, rules?: number) => {
      const f = both(seen(from), [web], seen(to), [web], rules).find((x) => x.kind === 'coverage-changed')!;
      return [f.severity, f.reasons.length];
    };
    expect(rate(10, 0)).toEqual(['high', 1]);
    expect(rate(10, 8)).toEqual(['medium', 1]);
    expect(rate(8, 10)).toEqual(['info', 0]);
    expect(rate(10, 0, 1)).toEqual(['low', 0]);
    // The earlier form of rules 2, which packs made before this rating record as rules 2.
    const f = evaluateFindings(diffSnapshots(makeSnapshot({ sockets: seen(10), processes: [web] }), makeSnapshot({ sockets: seen(0), processes: [web] }), { rules: 2 }), catalogue, { rules: 2, form: 'flat-coverage' }).find((x) => x.kind === 'coverage-changed')!;
    expect(f.severity).toBe('low');
  });

  it('gives a new listener on every interface the all-interfaces controls too, as a widened one has (from a findings probe)', () => {
    const wildcard = both([], [web], [on(8090, 10, '0.0.0.0')], [web])[0]!;
    const loopback = both([], [web], [on(8090, 10, '127.0.0.1')], [web])[0]!;
    const primary = (f: typeof wildcard) => f.controls.filter((c) => c.role === 'primary').map((c) => c.key);
    const allInterfaces = catalogue.findings.get('listening_all_interfaces')!.primary;
    for (const key of allInterfaces) expect(primary(wildcard)).toContain(key);
    expect(allInterfaces.some((key) => !primary(loopback).includes(key))).toBe(true);
    // Each control once.
    expect(new Set(wildcard.controls.map((c) => c.key)).size).toBe(wildcard.controls.length);
  });
});

describe('finding rules 3: outbound connections per network namespace', () => {
  const host = { inode: 4026531840, name: 'host', host: true, processes: 1, sockets: 1, read: true };
  const blue = { inode: 4026532999, name: 'blue', host: false, processes: 1, sockets: 1, read: true };
  const curl = makeProcess({ pid: 20, name: 'curl', executable: '/usr/bin/curl', user: 'root', uid: 0, commandLine: ['curl'] });
  const to = (netns: number, port: number) =>
    makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: port, remoteAddress: '203.0.113.9', remotePort: 443, inode: port, netns, owners: [{ pid: 20, fd: port }] });
  const snap = (sockets: SocketRecord[]) => ({ ...makeSnapshot({ sockets, processes: [curl] }), namespaces: [host, blue] });
  const outbound = (before: SocketRecord[], after: SocketRecord[], rules?: number) =>
    evaluateFindings(diffSnapshots(snap(before), snap(after), { rules }), catalogue, { rules }).filter((f) => f.kind.startsWith('outbound') || f.kind === 'new-external-destination');

  it('makes a finding per namespace, naming it, where rules 2 made one for the host and a container together', () => {
    const now = outbound([], [to(host.inode, 40001), to(blue.inode, 40002)]);
    expect(now.filter((f) => f.kind === 'outbound-opened').map((f) => f.summary).sort()).toEqual([
      'new outbound connection tcp to 203.0.113.9:443 (curl, pid 20, user root)',
      'new outbound connection tcp to 203.0.113.9:443 in namespace blue (curl, pid 20, user root)',
    ]);
    expect(new Set(now.map((f) => f.id)).size).toBe(now.length);
    const before = outbound([], [to(host.inode, 40001), to(blue.inode, 40002)], 2);
    expect(before.filter((f) => f.kind === 'outbound-opened').map((f) => f.summary)).toEqual(['new outbound connection tcp to 203.0.113.9:443 (curl, pid 20, user root)']);
    expect(before.find((f) => f.kind === 'outbound-opened')!.change).toMatchObject({ after: { connections: 2 } });
    expect((before.find((f) => f.kind === 'outbound-opened')!.change as { after: object }).after).not.toHaveProperty('namespace');
  });

  it('sees a container start talking to a destination the host already talked to', () => {
    const now = outbound([to(host.inode, 40001)], [to(host.inode, 40001), to(blue.inode, 40002)]);
    expect(now.map((f) => [f.kind, f.summary])).toEqual([['outbound-opened', 'new outbound connection tcp to 203.0.113.9:443 in namespace blue (curl, pid 20, user root)']]);
    // Rules 2: the container's connection joined the host's aggregate, and no finding said so.
    expect(outbound([to(host.inode, 40001)], [to(host.inode, 40001), to(blue.inode, 40002)], 2)).toEqual([]);
  });
});

describe('finding rules 4: namespaces named like the host, renamed namespaces, processes read as they exited', () => {
  const host = { inode: 4026531840, name: 'host', host: true, processes: 1, sockets: 1, read: true };
  const ns = (inode: number, name: string | null) => ({ inode, name, host: false, processes: 1, sockets: 1, read: true });
  const listen = (netns: number, port: number, pid = 10) => makeSocket({ localAddress: '0.0.0.0', localPort: port, inode: netns + port, netns, owners: [{ pid, fd: 3 }] });
  const snap = (sockets: SocketRecord[], namespaces: object[], processes: ProcessRecord[] = [web], bootTime = '2026-11-22T00:00:00.000Z') => {
    const s = makeSnapshot({ sockets, processes });
    return { ...s, host: { ...s.host, bootTime }, namespaces: namespaces as typeof s.namespaces };
  };
  const found = (before: ReturnType<typeof snap>, after: ReturnType<typeof snap>, rules?: number) =>
    evaluateFindings(diffSnapshots(before, after, { rules }), catalogue, { rules }).map((f) => `${f.severity} ${f.kind} ${f.summary}`);

  it('a container named "host" is not the host: its new listener on a port the host listens on is a new listener, where rules 3 read a count change', () => {
    const impostor = ns(4026532100, 'host');
    const before = snap([listen(host.inode, 2024)], [host, impostor]);
    const after = snap([listen(host.inode, 2024), listen(impostor.inode, 2024)], [host, impostor]);
    const now = found(before, after);
    expect(now).toHaveLength(1);
    expect(now[0]).toMatch(/^(medium|high|critical) listener-opened .*2024.* in namespace netns-name:host/);
    expect(found(before, after, 3)).toEqual([expect.stringMatching(/^info listener-count-changed /)]);
  });

  it('a namespace whose name was removed between two captures of one boot keeps it: no closed and critical opened listener', () => {
    const named = ns(4026532200, 'pn-60');
    const unnamed = ns(4026532200, null);
    const before = snap([listen(named.inode, 8080)], [host, named]);
    const after = snap([listen(named.inode, 8080)], [host, unnamed]);
    expect(found(before, after)).toEqual([]);
    // By rules 3: closed in pn-60, opened in netns:<inode>.
    expect(found(before, after, 3).map((f) => f.split(' ')[1]).sort()).toEqual(['listener-closed', 'listener-opened']);
    // Given a name (ip netns attach): the same.
    expect(found(after, before)).toEqual([]);
    // Across boots the inode says nothing: names alone identify namespaces.
    const rebooted = snap([listen(named.inode, 8080)], [host, unnamed], [web], '2026-11-24T00:00:00.000Z');
    expect(found(before, rebooted).map((f) => f.split(' ')[1]).sort()).toEqual(['listener-closed', 'listener-opened']);
  });

  it('a new namespace that got the inode of a deleted one (the kernel reuses them) is another namespace: nothing of the old one carries over (from a probe)', () => {
    const gone = ns(4026532400, 'pr-e');
    const reborn = ns(4026532400, 'pr-f');
    const before = snap([listen(gone.inode, 47203)], [host, gone]);
    // New sockets (other inodes): not one socket lived on.
    const after = snap([{ ...listen(reborn.inode, 47203), inode: 9001 }, { ...listen(reborn.inode, 47204), inode: 9002 }], [host, reborn]);
    const now = found(before, after);
    expect(now.filter((f) => f.includes('listener-opened')).map((f) => /in namespace (\S+)/.exec(f)?.[1])).toEqual(['pr-f', 'pr-f']);
    expect(now.filter((f) => f.includes('listener-closed'))).toEqual([expect.stringContaining('pr-e')]);
  });

  it('a renamed namespace is named by its name now, so that a finding has one id whichever window holds the rename', () => {
    const [was, now] = [ns(4026532500, 'pr-a'), ns(4026532500, 'pr-c')];
    const kept = listen(was.inode, 8080);
    const added = listen(was.inode, 47205);
    const before = snap([kept], [host, was]);
    const between = snap([kept], [host, now]);
    const after = snap([kept, added], [host, now]);
    const across = evaluateFindings(diffSnapshots(before, after), catalogue);
    const since = evaluateFindings(diffSnapshots(between, after), catalogue);
    expect(across.map((f) => f.summary)).toEqual([expect.stringContaining('in namespace pr-c')]);
    expect(across.map((f) => f.id)).toEqual(since.map((f) => f.id));
  });

  it('a name that moved from one namespace to another is not merged into either', () => {
    const [a, b] = [ns(4026532301, 'blue'), ns(4026532302, null)];
    const before = snap([listen(a.inode, 80), listen(b.inode, 81)], [host, a, b]);
    // blue's name now on the other namespace; the first one unnamed.
    const after = snap([listen(a.inode, 80), listen(b.inode, 81)], [host, ns(a.inode, null), ns(b.inode, 'blue')]);
    expect(found(before, after)).toEqual([]);
  });

  it('a listener whose process was read as it exited is no changed process (rules 3: high process-changed to an empty name)', () => {
    const gone = makeProcess({ pid: 10, name: '', executable: null, user: null, uid: null, commandLine: [] });
    gone.issues = [{ field: 'status', reason: 'process-exited', detail: 'ENOENT' }];
    const before = snap([listen(host.inode, 7600)], [host]);
    const after = snap([listen(host.inode, 7600)], [host], [gone]);
    expect(found(before, after)).toEqual([]);
    expect(found(before, after, 3)).toEqual([expect.stringMatching(/^high process-changed /)]);
  });
});

describe('renderFindingsText: the header counts port changes, and approved changes not observed apart', () => {
  const expected = parseExpectedChanges('schema_version: 1\nexpected:\n  - open: ":8080"\n  - open: ":9999"\n', 'e.yaml');
  const render = (after: SocketRecord[]) => {
    const before = makeSnapshot({ sockets: [], processes: [web] });
    const now = makeSnapshot({ sockets: after, processes: [web] });
    const found = evaluateFindings(diffSnapshots(before, now), catalogue, { expected });
    return renderFindingsText({ before: { id: 1, takenAt: before.takenAt }, after: { id: 2, takenAt: now.takenAt }, host: 'testhost', change: 'CHG-1', findings: found, disclaimer: '' }).split('\n').slice(0, 2).join('\n');
  };

  it('says no port changed when only approvals went unobserved', () => {
    expect(render([])).toMatch(/^No port changes on testhost for change CHG-1: .* -> .*; 2 approved changes not observed\n {2}2 findings: 2 [a-z]+; 2 missing$/);
  });

  it('counts the changes without the approvals that did not happen', () => {
    // The line below counts both, and says so (an auditor probe read "5 total" above severities that made 6).
    expect(render([listenOn(8080, 10, '127.0.0.1')])).toMatch(/^Port changes detected \(1 total\) on testhost for change CHG-1: .*; 1 approved change not observed\n {2}2 findings: [^;]+; 1 approved, 1 missing$/);
  });
});
