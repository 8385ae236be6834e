import { describe, expect, it } from 'vitest';
import { commonSelection, filterFlags } from '../../src/diff/common-selection.js';
import { loadControlsCatalogue } from '../../src/findings/controls.js';
import { windowFindings } from '../../src/findings/window-findings.js';
import type { Snapshot, SnapshotSelection, SocketRecord } from '../../src/model/types.js';
import { makeProcess, makeSnapshot, makeSocket } from '../helpers/make.js';

const p = makeProcess({ pid: 10 });
const listener = (port: number, extra: Partial<SocketRecord> = {}) => makeSocket({ localAddress: '0.0.0.0', localPort: port, inode: port, owners: [{ pid: 10, fd: 3 }], ...extra });
const conn = (port: number) => makeSocket({ listening: false, state: 'ESTABLISHED', localAddress: '10.0.0.5', localPort: 40000 + port, remoteAddress: '10.0.0.9', remotePort: port, inode: 90000 + port, owners: [{ pid: 10, fd: 4 }] });
const taken = (sockets: SocketRecord[], selection: Partial<SnapshotSelection> = {}): Snapshot => {
  const s = makeSnapshot({ sockets, processes: [p] });
  return { ...s, selection: { ...s.selection, ...selection } };
};
const catalogue = loadControlsCatalogue();

describe('commonSelection: a window compared in what both snapshots selected', () => {
  const host = [listener(22), listener(443), listener(45000), conn(5432), listener(8080, { family: 'ipv6', localAddress: '::' })];

  it('narrows the wider side by the other\'s filters, and says so; unchanged selections give no note', () => {
    const pre = taken(host);
    const post = taken([listener(22)], { filters: { filter: [':22'] } });
    const common = commonSelection(pre, post);
    expect(common.before.sockets.map((s) => s.localPort)).toEqual([22]);
    expect(common.after.sockets).toBe(post.sockets);
    expect(common.notes).toEqual(['the post snapshot was taken with --filter :22: the pre snapshot is compared only in the sockets that selection keeps']);
    expect(commonSelection(pre, taken(host)).notes).toEqual([]);
  });

  it('narrows by listening-only, a family and the ephemeral-port rule, in both directions', () => {
    const pre = taken(host, { listeningOnly: true, families: ['ipv4'] });
    const post = taken(host, { includeEphemeral: true });
    const common = commonSelection(pre, post);
    expect(common.after.sockets.map((s) => s.localPort)).toEqual([22, 443]);
    expect(common.notes).toHaveLength(1);
    expect(common.notes[0]).toMatch(/^the pre snapshot was taken with --listening-only and --only-ipv4 and listeners on ephemeral ports \(32768-60999\) left out: the post snapshot/);
  });

  it('cannot narrow by a process filter a snapshot without process information, and says that', () => {
    const pre = taken(host, { processInfo: false });
    const post = taken([listener(22)], { filters: { process: ['sshd'], filter: [':22'] } });
    const { notes, before } = commonSelection(pre, post);
    expect(before.sockets.map((s) => s.localPort)).toEqual([22]);
    expect(notes.join('\n')).toMatch(/taken with --process, and the pre snapshot without process information/);
  });

  it('writes filters as the flags that give them', () => {
    expect(filterFlags({ filter: [':22'], process: ['py thon*'], match: ['tcp * * * LISTEN'] })).toBe('--filter :22 --process "py thon*" --match "tcp * * * LISTEN"');
  });
});

describe('windowFindings', () => {
  it('rules 2: nothing of what only one side selected comes out as opened or closed; rules 1 reported it', () => {
    const pre = taken([listener(22), listener(443)]);
    const post = taken([listener(22)], { filters: { filter: [':22'] } });
    const now = windowFindings(pre, post, catalogue);
    expect(now.findings).toEqual([]);
    expect(now.notes).toHaveLength(1);
    const old = windowFindings(pre, post, catalogue, { rules: 1 });
    expect(old.findings.map((f) => f.kind)).toEqual(['listener-closed']);
    expect(old.notes).toEqual([]);
  });

  /** The same sockets as a capture without process information reads them: no owner, no process. */
  const withoutProcesses = (sockets: SocketRecord[]): Snapshot => {
    const s = makeSnapshot({ sockets: sockets.map((k) => ({ ...k, owners: [], unattributed: 'not-requested' as const })), processes: [] });
    return { ...s, selection: { ...s.selection, processInfo: false, hashBinaries: false }, coverage: { ...s.coverage, attributed: 0, ratio: 0 } };
  };

  it('rules 3: against a side without process information, connections still open are no change and coverage is not compared, with a note (an auditor probe found a signed pack reporting them ended)', () => {
    const sockets = [listener(22), conn(5432), conn(6379)];
    for (const [pre, post, side] of [
      [taken(sockets), withoutProcesses(sockets), 'the post snapshot'],
      [withoutProcesses(sockets), taken(sockets), 'the pre snapshot'],
    ] as const) {
      const now = windowFindings(pre, post, catalogue);
      expect(now.findings.map((f) => f.kind)).toEqual([]);
      expect(now.notes).toEqual([
        `${side} was taken without process information (--no-process-info): outbound connections (told apart by the process that holds them), a replaced binary, a changed owner and the attribution coverage are not compared`,
      ]);
      // Rules 2 read every connection as opened or ended.
      expect(windowFindings(pre, post, catalogue, { rules: 2 }).findings.some((f) => f.kind === 'outbound-opened' || f.kind === 'outbound-closed')).toBe(true);
      // So did rules 3 in its first form, which packs made then record as rules 3 (verify tries it).
      expect(windowFindings(pre, post, catalogue, { rules: 3, form: 'compare-unattributed' }).findings.some((f) => f.kind === 'outbound-opened' || f.kind === 'outbound-closed')).toBe(true);
    }
  });

  it('rules 3: says that a side without executable hashes cannot show a replaced binary', () => {
    const pre = taken([listener(22)]);
    const post = taken([listener(22)], { hashBinaries: false });
    expect(windowFindings(pre, post, catalogue).notes).toEqual(['the post snapshot was taken without executable hashes (--no-hash-binaries): a replaced binary cannot be found']);
  });
});

describe('windowFindings: TCP listeners the ephemeral-port rule left out of both inventories (rules 5)', () => {
  const netns = makeSnapshot({ sockets: [] }).namespaces[0]?.inode ?? 4026531833;
  const at = (port: number, address = '127.0.0.1') => ({ netns, family: 'ipv4' as const, address, port });
  const side = (listeners: ReturnType<typeof at>[] | undefined): Snapshot => ({ ...taken([listener(22)], { ephemeralPortRange: [32768, 60999] }), ...(listeners === undefined ? {} : { ephemeralTcpListeners: listeners }) });

  it('names those that appeared and went, apart from the findings and from the notes of a narrowed comparison', () => {
    const w = windowFindings(side([at(41000), at(45000)]), side([at(41000), at(45678)]), catalogue);
    expect(w.findings).toEqual([]);
    expect(w.notes).toEqual([]);
    expect(w.outside).toEqual([
      'TCP listeners on ephemeral ports (32768-60999), which the ephemeral-port rule leaves out of both inventories, appeared: 127.0.0.1:45678; went: 127.0.0.1:45000; capture with --include-ephemeral to compare them as listeners, with their processes',
    ]);
  });

  it('says nothing when they are the same, when a side did not record them (an earlier release, --include-ephemeral), or by rules 4', () => {
    expect(windowFindings(side([at(41000)]), side([at(41000)]), catalogue).outside).toEqual([]);
    expect(windowFindings(side(undefined), side([at(41000)]), catalogue).outside).toEqual([]);
    expect(windowFindings(side([]), side([at(41000)]), catalogue, { rules: 4 }).outside).toEqual([]);
  });

  it('names ten, then counts the rest', () => {
    const many = Array.from({ length: 13 }, (_, i) => at(41000 + i));
    const [note] = windowFindings(side([]), side(many), catalogue).outside;
    expect(note).toContain('appeared: 127.0.0.1:41000, 127.0.0.1:41001');
    expect(note).toContain('127.0.0.1:41009 and 3 more;');
  });
});
