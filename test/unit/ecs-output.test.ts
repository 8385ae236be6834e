import { describe, expect, it } from 'vitest';
import type { ProcessRecord, SocketRecord } from '../../src/model/types.js';
import { ECS_EXTENSION_FIELDS, renderEcs } from '../../src/outputs/ecs.js';
import { ecsFieldDefinition, flattenEcsDocument, validateEcsDocument } from '../helpers/ecs-validator.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

type Doc = Record<string, any>;

const TAKEN_AT = new Date('2026-11-23T01:02:03.000Z');
const HOST_IP = '10.0.0.5';
const HOST_IP6 = '2001:db8::5';

/** comm of a process that tries to break log lines and terminals. */
const HOSTILE_NAME = 'ev"il\n{"x":1}\r\u001b[2J\'é😀';
const HOSTILE_ARGS = ['./ev"il', '--msg=line1\nline2', '\u001b]0;pwned\u0007', 'naïve\\path', '\u2028sep\u2029'];

const SHA = (c: string): string => c.repeat(64);

const processes: ProcessRecord[] = [
  makeProcess({ pid: 100, name: 'sshd', executable: '/usr/sbin/sshd', commandLine: ['/usr/sbin/sshd', '-D'], uid: 0, euid: 0, gid: 0, user: 'root', group: 'root', hashes: { sha256: SHA('1'), blake3: SHA('2'), size: 1 } }),
  makeProcess({ pid: 200, name: 'nginx', executable: '/usr/sbin/nginx', commandLine: ['nginx: master process'], hashes: { sha256: SHA('3'), blake3: SHA('4'), size: 2 } }),
  makeProcess({ pid: 201, name: 'nginx', executable: '/usr/sbin/nginx', commandLine: ['nginx: worker process'], hashes: { sha256: SHA('3'), blake3: SHA('4'), size: 2 } }),
  makeProcess({ pid: 300, name: 'curl', executable: '/usr/bin/curl', commandLine: ['curl', 'https://198.51.100.7/'], hashes: { sha256: SHA('5'), blake3: SHA('6'), size: 3 } }),
  // Hashing failed or was off: no hash fields may appear.
  makeProcess({ pid: 400, name: 'avahi-daemon', executable: '/usr/sbin/avahi-daemon', commandLine: ['avahi-daemon: running'], hashes: undefined }),
  makeProcess({ pid: 500, name: 'python3', executable: '/usr/bin/python3.11', commandLine: ['python3', '-m', 'http.server', '8080'] }),
  makeProcess({ pid: 600, name: HOSTILE_NAME, executable: '/tmp/ev"il\nx', commandLine: HOSTILE_ARGS, euid: 0, containerId: 'c0ffee'.repeat(10) + 'beef' }),
];

/** Each socket with a unique inode (0 for the kernel-owned one), to find its document again. */
const S = {
  listen4: makeSocket({ localAddress: '0.0.0.0', localPort: 22, inode: 11, uid: 0, owners: [{ pid: 100, fd: 3 }] }),
  listen6: makeSocket({ family: 'ipv6', localAddress: '::', localPort: 443, remoteAddress: '::', inode: 12, owners: [{ pid: 200, fd: 6 }, { pid: 201, fd: 6 }] }),
  inbound4: makeSocket({ localAddress: HOST_IP, localPort: 22, remoteAddress: '203.0.113.9', remotePort: 50123, state: 'ESTABLISHED', listening: false, inode: 13, uid: 0, owners: [{ pid: 100, fd: 4 }] }),
  inbound6: makeSocket({ family: 'ipv6', localAddress: HOST_IP6, localPort: 443, remoteAddress: '2001:db8::99', remotePort: 40000, state: 'ESTABLISHED', listening: false, inode: 14, owners: [{ pid: 201, fd: 9 }] }),
  // IPv4 client of the dual-stack IPv6 listener: kernel table tcp6, address shown as plain IPv4.
  mapped: makeSocket({ family: 'ipv6', localAddress: HOST_IP, localPort: 443, remoteAddress: '192.0.2.44', remotePort: 61000, state: 'ESTABLISHED', listening: false, inode: 21, owners: [{ pid: 201, fd: 10 }] }),
  outbound: makeSocket({ localAddress: HOST_IP, localPort: 45678, remoteAddress: '198.51.100.7', remotePort: 443, state: 'ESTABLISHED', listening: false, inode: 15, owners: [{ pid: 300, fd: 5 }] }),
  udp: makeSocket({ transport: 'udp', localAddress: '0.0.0.0', localPort: 5353, state: 'UNCONN', inode: 16, uid: 107, owners: [{ pid: 400, fd: 12 }] }),
  timeWait: makeSocket({ localAddress: HOST_IP, localPort: 22, remoteAddress: '203.0.113.10', remotePort: 50200, state: 'TIME_WAIT', listening: false, inode: 0, uid: 0, owners: [], unattributed: 'kernel-owned' }),
  // Both ends of a loopback connection to a listener bound to one address.
  loopListen: makeSocket({ localAddress: '127.0.0.1', localPort: 8080, inode: 17, owners: [{ pid: 500, fd: 3 }] }),
  loopServer: makeSocket({ localAddress: '127.0.0.1', localPort: 8080, remoteAddress: '127.0.0.1', remotePort: 41000, state: 'ESTABLISHED', listening: false, inode: 18, owners: [{ pid: 500, fd: 7 }] }),
  loopClient: makeSocket({ localAddress: '127.0.0.1', localPort: 41000, remoteAddress: '127.0.0.1', remotePort: 8080, state: 'ESTABLISHED', listening: false, inode: 19, owners: [{ pid: 300, fd: 8 }] }),
  hostile: makeSocket({ localAddress: '127.0.0.1', localPort: 6666, inode: 20, owners: [{ pid: 600, fd: 3 }] }),
} satisfies Record<string, SocketRecord>;

const snapshot = makeSnapshot({ sockets: Object.values(S), processes, takenAt: TAKEN_AT });
const output = renderEcs(snapshot);
const lines = output.split('\n');
if (lines.at(-1) === '') lines.pop();
const docs: Doc[] = lines.map((line) => JSON.parse(line) as Doc);

/** The document of a socket, by inode. */
function docOf(socket: SocketRecord): Doc {
  const found = docs.filter((d) => d.labels?.netmon_socket_inode === String(socket.inode));
  expect(found, `documents for inode ${socket.inode}`).toHaveLength(1);
  return found[0]!;
}

describe('renderEcs: NDJSON framing', () => {
  it('writes one newline-terminated line per socket', () => {
    expect(output.endsWith('\n')).toBe(true);
    expect(lines).toHaveLength(Object.keys(S).length);
    expect(docs).toHaveLength(snapshot.sockets.length);
    expect(new Set(docs.map((d) => d.labels.netmon_socket_inode)).size).toBe(snapshot.sockets.length);
  });

  it('keeps every document on a single line, with C0 controls and U+2028/U+2029 escaped', () => {
    for (const line of lines) {
      expect(line).not.toMatch(/[\u0000-\u001f\u2028\u2029]/);
      // Same document as JSON.stringify writes, except that U+2028/U+2029 are escaped too.
      const escaped = JSON.stringify(JSON.parse(line)).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
      expect(escaped).toBe(line);
    }
  });

  it('renders an empty snapshot as empty output', () => {
    expect(renderEcs(makeSnapshot({ sockets: [], processes: [] }))).toBe('');
  });
});

describe('renderEcs: schema conformance', () => {
  it('documents exactly one extension field, process.hash.blake3, which ECS does not define', () => {
    expect(ECS_EXTENSION_FIELDS).toEqual({ 'process.hash.blake3': 'keyword' });
    for (const name of Object.keys(ECS_EXTENSION_FIELDS)) expect(ecsFieldDefinition(name)).toBeUndefined();
  });

  it('emits only valid ECS documents, given the documented extensions', () => {
    for (const doc of docs) {
      expect(validateEcsDocument(doc, { extensions: ECS_EXTENSION_FIELDS }), JSON.stringify(doc)).toEqual([]);
    }
  });

  it('emits no non-ECS field other than the documented extension', () => {
    const nonEcs = new Set<string>();
    for (const doc of docs) {
      for (const [path] of flattenEcsDocument(doc)) {
        if (path !== 'labels' && !path.startsWith('labels.') && !ecsFieldDefinition(path)) nonEcs.add(path);
      }
    }
    expect([...nonEcs].sort()).toEqual(Object.keys(ECS_EXTENSION_FIELDS).sort());
    // Without the extension declared, the hashed documents fail on that one field only.
    expect(validateEcsDocument(docOf(S.listen4))).toEqual([
      'process.hash.blake3: not an ECS field, a labels.* key or a declared extension',
    ]);
  });

  it('marks every document as inventory state, timestamped with the snapshot time', () => {
    expect(snapshot.takenAt).toBe('2026-11-23T01:02:03.000Z');
    for (const doc of docs) {
      expect(doc.event.kind).toBe('state');
      expect(doc['@timestamp']).toBe(snapshot.takenAt);
      expect(new Date(doc['@timestamp']).toISOString()).toBe(doc['@timestamp']);
      expect(doc.event.category).toEqual(['network']);
      expect(doc.ecs.version).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});

describe('renderEcs: direction', () => {
  it('describes a listener as the server, with no direction or peer', () => {
    for (const [socket, ip, port] of [[S.listen4, '0.0.0.0', 22], [S.listen6, '::', 443], [S.loopListen, '127.0.0.1', 8080]] as const) {
      const doc = docOf(socket);
      expect(doc.server).toEqual({ ip, port });
      expect(doc.event.type).toEqual(['info']);
      expect(doc.network.direction).toBeUndefined();
      expect(doc.source).toBeUndefined();
      expect(doc.destination).toBeUndefined();
      expect(doc.client).toBeUndefined();
      expect(doc.related.ip).toEqual([ip]);
    }
    expect(docOf(S.listen4).network).toEqual({ transport: 'tcp', type: 'ipv4', iana_number: '6' });
    expect(docOf(S.listen6).network).toEqual({ transport: 'tcp', type: 'ipv6', iana_number: '6' });
  });

  it('describes an unconnected UDP socket as a UDP server', () => {
    const doc = docOf(S.udp);
    expect(doc.network).toEqual({ transport: 'udp', type: 'ipv4', iana_number: '17' });
    expect(doc.server).toEqual({ ip: '0.0.0.0', port: 5353 });
    expect(doc.network.direction).toBeUndefined();
    expect(doc.labels.netmon_socket_state).toBe('UNCONN');
  });

  it('makes a connection to a wildcard listener ingress, with the remote peer as source', () => {
    const v4 = docOf(S.inbound4);
    expect(v4.network.direction).toBe('ingress');
    expect(v4.source).toEqual({ ip: '203.0.113.9', port: 50123 });
    expect(v4.destination).toEqual({ ip: HOST_IP, port: 22 });
    expect(v4.client).toEqual(v4.source);
    expect(v4.server).toEqual(v4.destination);
    expect(v4.event.type).toEqual(['connection', 'info']);
    expect(v4.related.ip).toEqual([HOST_IP, '203.0.113.9']);

    const v6 = docOf(S.inbound6);
    expect(v6.network).toMatchObject({ direction: 'ingress', type: 'ipv6' });
    expect(v6.source).toEqual({ ip: '2001:db8::99', port: 40000 });
    expect(v6.destination).toEqual({ ip: HOST_IP6, port: 443 });
  });

  it('makes an IPv4 connection to a dual-stack IPv6 listener ingress', () => {
    const doc = docOf(S.mapped);
    expect(doc.network.direction).toBe('ingress');
    expect(doc.source).toEqual({ ip: '192.0.2.44', port: 61000 });
    expect(doc.destination).toEqual({ ip: HOST_IP, port: 443 });
  });

  // network.type is the network-layer protocol: IPv4 packets on a dual-stack IPv6 socket.
  it('gives an IPv4 connection on a dual-stack listener network.type ipv4', () => {
    expect(docOf(S.mapped).network.type).toBe('ipv4');
  });

  it('makes a connection to no local listener egress, with the local end as source', () => {
    const doc = docOf(S.outbound);
    expect(doc.network.direction).toBe('egress');
    expect(doc.source).toEqual({ ip: HOST_IP, port: 45678 });
    expect(doc.destination).toEqual({ ip: '198.51.100.7', port: 443 });
    expect(doc.client).toEqual(doc.source);
    expect(doc.server).toEqual(doc.destination);
  });

  it('tells the two ends of a loopback connection apart', () => {
    const server = docOf(S.loopServer);
    expect(server.network.direction).toBe('ingress');
    expect(server.source).toEqual({ ip: '127.0.0.1', port: 41000 });
    expect(server.destination).toEqual({ ip: '127.0.0.1', port: 8080 });
    expect(server.related.ip).toEqual(['127.0.0.1']);

    const client = docOf(S.loopClient);
    expect(client.network.direction).toBe('egress');
    expect(client.source).toEqual({ ip: '127.0.0.1', port: 41000 });
    expect(client.destination).toEqual({ ip: '127.0.0.1', port: 8080 });
  });
});

describe('renderEcs: process attribution', () => {
  it('carries both executable hashes of an attributed socket', () => {
    expect(docOf(S.listen4).process.hash).toEqual({ sha256: SHA('1'), blake3: SHA('2') });
    expect(docOf(S.inbound4).process.hash).toEqual({ sha256: SHA('1'), blake3: SHA('2') });
    expect(docOf(S.outbound).process.hash).toEqual({ sha256: SHA('5'), blake3: SHA('6') });
    expect(docOf(S.outbound).related.hash).toEqual([SHA('5'), SHA('6')]);
    for (const socket of Object.values(S)) {
      const proc = processes.find((p) => p.pid === socket.owners[0]?.pid);
      if (!proc?.hashes) continue;
      expect(docOf(socket).process.hash, `inode ${socket.inode}`).toEqual({ sha256: proc.hashes.sha256, blake3: proc.hashes.blake3 });
    }
  });

  it('writes no hash fields for a process that was not hashed', () => {
    const doc = docOf(S.udp);
    expect(doc.process.pid).toBe(400);
    expect(doc.process.name).toBe('avahi-daemon');
    expect(doc.process.hash).toBeUndefined();
    expect(doc.related.hash).toBeUndefined();
  });

  it('describes the owning process', () => {
    const doc = docOf(S.listen4);
    expect(doc.process).toMatchObject({
      pid: 100,
      name: 'sshd',
      executable: '/usr/sbin/sshd',
      args: ['/usr/sbin/sshd', '-D'],
      args_count: 2,
      command_line: '/usr/sbin/sshd -D',
      start: '2026-11-23T00:00:00.000Z',
      parent: { pid: 1 },
      user: { id: '0', name: 'root' },
      real_user: { id: '0', name: 'root' },
      real_group: { id: '0', name: 'root' },
    });
    expect(doc.related.user).toEqual(['root']);
  });

  it('names the first owner as the process and lists every owner pid in a label', () => {
    const doc = docOf(S.listen6);
    expect(doc.process.pid).toBe(200);
    expect(doc.process.args).toEqual(['nginx: master process']);
    expect(doc.labels.netmon_owner_pids).toBe('200,201');
    expect(docOf(S.inbound6).labels.netmon_owner_pids).toBeUndefined();
  });

  it('writes no process fields for a kernel-owned socket, and labels why', () => {
    const doc = docOf(S.timeWait);
    expect(doc.process).toBeUndefined();
    expect(doc.container).toBeUndefined();
    expect(doc.related).toEqual({ ip: [HOST_IP, '203.0.113.10'] });
    expect(doc.labels).toEqual({
      netmon_socket_state: 'TIME_WAIT',
      netmon_netns: '4026531840',
      netmon_namespace: 'host',
      netmon_socket_inode: '0',
      netmon_socket_uid: '0',
      netmon_unattributed: 'kernel-owned',
    });
    expect(doc.event.type).toEqual(['connection', 'info']);
    expect(doc.network.direction).toBe('ingress');
    expect(doc.source).toEqual({ ip: '203.0.113.10', port: 50200 });
    for (const other of docs.filter((d) => d !== doc)) expect(other.labels.netmon_unattributed).toBeUndefined();
  });

  it('keeps a hostile process name and arguments exactly, without breaking the line', () => {
    const doc = docOf(S.hostile);
    expect(doc.process.name).toBe(HOSTILE_NAME);
    expect(doc.process.args).toEqual(HOSTILE_ARGS);
    expect(doc.process.command_line).toBe(HOSTILE_ARGS.join(' '));
    expect(doc.process.executable).toBe('/tmp/ev"il\nx');
    // Effective uid 0, real uid 1000: the user name belongs to the real user only.
    expect(doc.process.user).toEqual({ id: '0' });
    expect(doc.process.real_user).toEqual({ id: '1000', name: 'alice' });
    expect(doc.container.id).toBe('c0ffee'.repeat(10) + 'beef');
    const line = lines.find((l) => l.includes('"netmon_socket_inode":"20"'))!;
    expect(line).toContain(String.raw`ev\"il\n{\"x\":1}\r\u001b[2J'é😀`);
    expect(line).not.toContain('\u001b');
  });
});

describe('renderEcs: what opened and closed between two captures of a session (--interval -o ecs)', () => {
  // Before, a tick rendered only its opened sockets, as an inventory of their own: a connection
  // accepted on a listener that was already open came out as egress from the service port, and
  // what closed produced no document at all.
  const accepted = S.inbound4;
  const inventory = Object.values(S);
  const render = (sockets: SocketRecord[], change: 'opened' | 'closed') =>
    renderEcs(makeSnapshot({ sockets, processes, takenAt: TAKEN_AT }), { change, inventory })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Doc);

  it('an opened connection to a listener of the capture is ingress, its event a connection start; a listener opened is a start', () => {
    const docs = render([accepted, S.listen4], 'opened');
    const byInode = (s: SocketRecord) => docs.find((d) => d.labels.netmon_socket_inode === String(s.inode));
    const [conn, listener] = [byInode(accepted), byInode(S.listen4)];
    expect(conn).toMatchObject({ event: { kind: 'event', type: ['connection', 'start'], action: 'socket-opened' }, network: { direction: 'ingress' }, source: { ip: '203.0.113.9', port: 50123 }, destination: { port: 22 } });
    expect(listener).toMatchObject({ event: { kind: 'event', type: ['start'], action: 'socket-opened' }, server: { port: 22 } });
  });

  it('a closed socket is an end event, with the same direction rules', () => {
    const docs = render([accepted, S.outbound], 'closed');
    const byInode = (s: SocketRecord) => docs.find((d) => d.labels.netmon_socket_inode === String(s.inode));
    const [conn, out] = [byInode(accepted), byInode(S.outbound)];
    expect(conn).toMatchObject({ event: { kind: 'event', type: ['connection', 'end'], action: 'socket-closed' }, network: { direction: 'ingress' } });
    expect(out).toMatchObject({ event: { type: ['connection', 'end'] }, network: { direction: 'egress' }, destination: { ip: '198.51.100.7', port: 443 } });
  });

  it('emits only valid ECS documents', () => {
    for (const doc of [...render(inventory, 'opened'), ...render(inventory, 'closed')]) {
      expect(validateEcsDocument(doc, { extensions: ECS_EXTENSION_FIELDS }), JSON.stringify(doc)).toEqual([]);
    }
  });
});

describe('renderEcs: process identities', () => {
  it('puts the real gid under process.real_group (ECS process.group is the effective group, which netmon does not read)', () => {
    const doc = docOf(S.listen4);
    expect(doc.process.real_group).toEqual({ id: '0', name: 'root' });
    expect(doc.process.group).toBeUndefined();
  });
});
