import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeExact,
  hasEffectiveCapability,
  hidesProcesses,
  parseProcMount,
  parseBootTime,
  parseCmdline,
  parseContainerId,
  parseNamespaceLink,
  parsePortRange,
  parseProcStat,
  parseProcStatus,
  parseSocketLink,
  PF_KTHREAD,
} from '../../src/collect/parse/proc-process.js';
import { ParseError } from '../../src/errors.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/linux/${name}`, import.meta.url), 'utf8');

/** Fields 3..52 of a stat line after "(comm)", with ppid 4321 and start time 987654 (field 22). */
const STAT_TAIL = ' S 4321 4118 2889 0 -1 4194304 3352 0 19 0 6 2 0 0 20 0 11 0 987654 915369984 11389 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 1 1 1 1 1 1 1 0\n';

const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'deadbeef';

describe('parseProcStat', () => {
  it('reads the captured stat of a node process', () => {
    expect(parseProcStat(fixture('stat.txt'))).toEqual({ pid: 4123, name: 'node', state: 'S', ppid: 1, startTicks: 66753, flags: 4194304 });
  });

  it.each([
    ['a name with ") (" and spaces', 'evil) (x y', 'evil) (x y'],
    ['a name that imitates the following fields', 'x) R 1 2 3', 'x) R 1 2 3'],
    ['a name that is only parentheses', ')()(', ')()('],
    ['an empty name', '', ''],
    ['a name with a newline and a tab', 'a\nb\tc', 'a\nb\tc'],
    ['a name with spaces only', '   ', '   '],
  ])('takes the name up to the last ")" for %s', (_what, comm, name) => {
    expect(parseProcStat(`77 (${comm})${STAT_TAIL}`)).toEqual({ pid: 77, name, state: 'S', ppid: 4321, startTicks: 987654, flags: 4194304 });
  });

  it('reads the flags of field 9, where a kernel thread has PF_KTHREAD', () => {
    const kthread = `2 (kthreadd) S 0 0 0 0 -1 ${0x208040} 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;
    expect(parseProcStat(kthread).flags! & PF_KTHREAD).toBe(PF_KTHREAD);
    expect(parseProcStat(fixture('stat.txt')).flags! & PF_KTHREAD).toBe(0);
  });

  it('refuses text without "(comm)"', () => {
    expect(() => parseProcStat('77 node S 1 2 3', '/proc/77/stat')).toThrow(ParseError);
    expect(() => parseProcStat('77 )node( S 1 2 3', '/proc/77/stat')).toThrow(/^\/proc\/77\/stat:1: /);
  });

  it('refuses a truncated line (no start time field)', () => {
    expect(() => parseProcStat('77 (node) S 1 2 3 4')).toThrow(ParseError);
  });

  it('refuses a non-numeric ppid', () => {
    expect(() => parseProcStat(`77 (node) S x${STAT_TAIL.slice(7)}`)).toThrow(ParseError);
  });

  it('refuses a line without a pid', () => {
    expect(() => parseProcStat(`(node)${STAT_TAIL}`)).toThrow(ParseError);
  });

  it('never throws anything but ParseError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        try {
          parseProcStat(text);
        } catch (error) {
          if (!(error instanceof ParseError)) throw error;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseProcStatus', () => {
  it('reads name, real and effective uid/gid of the captured root process', () => {
    expect(parseProcStatus(fixture('status.txt'))).toEqual({ name: 'node', uid: 0, euid: 0, gid: 0, egid: 0 });
  });

  it('reads the captured status of a process running as nobody (65534)', () => {
    expect(parseProcStatus(fixture('status-nobody.txt'))).toEqual({ name: 'node', uid: 65534, euid: 65534, gid: 65534, egid: 65534 });
  });

  it('keeps real and effective ids apart (setuid program)', () => {
    const text = 'Name:\tpasswd\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\nGid:\t1000\t42\t42\t42\nGroups:\t1000\n';
    expect(parseProcStatus(text)).toEqual({ name: 'passwd', uid: 1000, euid: 0, gid: 1000, egid: 42 });
  });

  it('does not mistake other lines that start alike (Uid vs. NSpid, Gid vs. Ngid)', () => {
    const text = 'Ngid:\t7\nUid:\t5\t6\t5\t5\nGid:\t8\t9\t8\t8\n';
    expect(parseProcStatus(text)).toMatchObject({ uid: 5, euid: 6, gid: 8, egid: 9, name: null });
  });

  it.each([
    ['no Uid line', 'Name:\tx\nGid:\t0\t0\t0\t0\n'],
    ['no Gid line', 'Name:\tx\nUid:\t0\t0\t0\t0\n'],
    ['only one uid', 'Uid:\t0\nGid:\t0\t0\t0\t0\n'],
    ['a word instead of a uid', 'Uid:\troot\t0\t0\t0\nGid:\t0\t0\t0\t0\n'],
    ['empty text', ''],
  ])('refuses %s with a ParseError', (_what, text) => {
    expect(() => parseProcStatus(text, '/proc/9/status')).toThrow(ParseError);
    expect(() => parseProcStatus(text, '/proc/9/status')).toThrow(/^\/proc\/9\/status: /);
  });

  it('refuses ids that are not unsigned decimal numbers', () => {
    expect(() => parseProcStatus('Uid:\t-1\t0\t0\t0\nGid:\t0\t0\t0\t0\n')).toThrow(ParseError);
    expect(() => parseProcStatus('Uid:\t0x10\t0\t0\t0\nGid:\t0\t0\t0\t0\n')).toThrow(ParseError);
  });
});

describe('parseCmdline', () => {
  it('splits the captured NUL-separated command line, keeping spaces and a newline inside arguments', () => {
    const raw = readFileSync(new URL('../fixtures/linux/cmdline.bin', import.meta.url), 'latin1');
    expect(raw.endsWith('\0')).toBe(true);
    // The last argument of the captured command line was '': trailing empty arguments are
    // indistinguishable from setproctitle padding and are dropped.
    expect(parseCmdline(raw)).toEqual(['node', 'sockets.mjs', 'arg with spaces', 'two\nlines']);
  });

  it('drops the terminating NUL and any NUL padding after the last argument', () => {
    expect(parseCmdline('python3\0-c\0print("a b")\0')).toEqual(['python3', '-c', 'print("a b")']);
    expect(parseCmdline('a\0\0')).toEqual(['a']);
    expect(parseCmdline(`node-title${'\0'.repeat(40)}`)).toEqual(['node-title']);
  });

  it('keeps empty arguments between others', () => {
    expect(parseCmdline('prog\0\0--flag\0')).toEqual(['prog', '', '--flag']);
  });

  it('keeps a command line without a final NUL (a process that rewrote its argv)', () => {
    expect(parseCmdline('nginx: worker process')).toEqual(['nginx: worker process']);
    expect(parseCmdline('sshd: alice [priv]\0')).toEqual(['sshd: alice [priv]']);
  });

  it('gives no arguments for a kernel thread (empty file) or a file of padding only', () => {
    expect(parseCmdline('')).toEqual([]);
    expect(parseCmdline('\0\0\0')).toEqual([]);
  });

  it('round-trips any argument vector without NUL bytes whose last argument is not empty', () => {
    const arg = fc.string().filter((s) => !s.includes('\0'));
    const args = fc.tuple(fc.array(arg, { maxLength: 5 }), arg.filter((s) => s !== '')).map(([init, last]) => [...init, last]);
    fc.assert(
      fc.property(args, fc.boolean(), (argv, terminated) => {
        expect(parseCmdline(argv.join('\0') + (terminated ? '\0' : ''))).toEqual(argv);
      }),
    );
  });
});

describe('parseContainerId', () => {
  it.each([
    ['docker, cgroup v2 systemd driver', `0::/system.slice/docker-${ID}.scope\n`],
    ['docker, cgroup v2 with a nested init scope', `0::/system.slice/docker-${ID}.scope/init.scope\n`],
    ['docker, cgroup v1 cgroupfs driver', `12:memory:/docker/${ID}\n11:cpu,cpuacct:/docker/${ID}\n`],
    ['containerd (Kubernetes, systemd driver)', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c1b7cf8_3c0e_4b7c_9d5c_1f2e3d4c5b6a.slice/cri-containerd-${ID}.scope\n`],
    ['containerd (Kubernetes, cgroupfs driver, v1)', `4:pids:/kubepods/burstable/pod0c1b7cf8-3c0e-4b7c-9d5c-1f2e3d4c5b6a/${ID}\n`],
    ['CRI-O', `0::/kubepods.slice/kubepods-pod123.slice/crio-${ID}.scope\n`],
    ['podman (libpod)', `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container\n`],
    ['a later line of a cgroup v1 file', `9:name=systemd:/\n8:pids:/\n4:memory:/docker/${ID}\n0::/\n`],
  ])('finds the id: %s', (_what, text) => {
    expect(parseContainerId(text)).toBe(ID);
  });

  it.each([
    ['the captured cgroup file (a 32-hex memory cgroup, no container)', fixture('cgroup.txt')],
    ['the root cgroup', '0::/\n'],
    ['a user session', '0::/user.slice/user-1000.slice/session-3.scope\n'],
    ['a system service', '0::/system.slice/ssh.service\n'],
    ['a 63-hex name', `0::/system.slice/docker-${ID.slice(1)}.scope\n`],
    ['a 65-hex name', `0::/system.slice/docker-${ID}f.scope\n`],
    ['upper-case hex', `0::/docker/${ID.toUpperCase()}\n`],
    ['an id glued to other text', `0::/system.slice/x${ID}.scope\n`],
    ['empty text', ''],
  ])('finds none in %s', (_what, text) => {
    expect(parseContainerId(text)).toBeNull();
  });

  it('looks at the path only, not the hierarchy-name field', () => {
    expect(parseContainerId(`1:name=${ID}:/\n`)).toBeNull();
  });
});

describe('parseNamespaceLink', () => {
  it('reads the captured link', () => {
    expect(parseNamespaceLink(fixture('ns-net.txt').trim())).toBe(4026531833);
  });

  it.each([
    ['net:[4026531840]', 4026531840],
    ['mnt:[4026531841]', 4026531841],
    ['pid_for_children:[4026531836]', 4026531836],
    ['net:[]', null],
    ['net:[12', null],
    ['net:[12]\n', null],
    ['socket:[12]x', null],
    ['/proc/1/ns/net', null],
    ['', null],
  ])('%j -> %j', (link, expected) => {
    expect(parseNamespaceLink(link)).toBe(expected);
  });
});

describe('parseSocketLink', () => {
  it('reads every socket link of the captured descriptor list and nothing else', () => {
    const results = fixture('fd-links.txt')
      .trim()
      .split('\n')
      .map((line) => line.slice(line.indexOf(' ') + 1))
      .map((link) => [link, parseSocketLink(link)] as const);
    for (const [link, inode] of results) {
      if (link.startsWith('socket:')) expect(inode, link).toBe(Number(link.slice(8, -1)));
      else expect(inode, link).toBeNull();
    }
    expect(results.filter(([, inode]) => inode !== null).map(([, inode]) => inode)).toContain(7122);
  });

  it.each([
    ['socket:[12345]', 12345],
    ['socket:[0]', 0],
    ['pipe:[12345]', null],
    ['anon_inode:[eventpoll]', null],
    ['/dev/null', null],
    ['socket:[abc]', null],
  ])('%j -> %j', (link, expected) => {
    expect(parseSocketLink(link)).toBe(expected);
  });

  it('refuses malformed socket links', () => {
    expect(parseSocketLink('socket:[12345')).toBeNull();
    expect(parseSocketLink('socket:[]')).toBeNull();
    expect(parseSocketLink('socket:[1e3]')).toBeNull();
  });
});

describe('parseBootTime', () => {
  it('reads btime from the captured /proc/stat', () => {
    expect(parseBootTime(fixture('proc-stat.txt'))).toBe(1795394739);
  });

  it('needs a whole "btime N" line', () => {
    expect(parseBootTime('cpu 1 2 3\nbtime 1700000000\nprocesses 5\n')).toBe(1700000000);
    expect(parseBootTime('cpu 1 2 3\nprocesses 5\n')).toBeNull();
    expect(parseBootTime('xbtime 1700000000\n')).toBeNull();
    expect(parseBootTime('btime -5\n')).toBeNull();
    expect(parseBootTime('')).toBeNull();
  });
});

describe('parsePortRange', () => {
  it('reads the captured ip_local_port_range (tab-separated, newline-terminated)', () => {
    expect(parsePortRange(fixture('ip_local_port_range.txt'))).toEqual([32768, 60999]);
  });

  it('accepts any whitespace between the two numbers and a one-port range', () => {
    expect(parsePortRange('1024 65535')).toEqual([1024, 65535]);
    expect(parsePortRange('  5000 \t 5000 \n')).toEqual([5000, 5000]);
  });

  it.each(['', '32768', '32768 60999 1', '60999 32768', 'a b', '1.5 2', '32768-60999'])('refuses %j with a ParseError', (text) => {
    expect(() => parsePortRange(text, '/proc/sys/net/ipv4/ip_local_port_range')).toThrow(ParseError);
    expect(() => parsePortRange(text, '/proc/sys/net/ipv4/ip_local_port_range')).toThrow(/^\/proc\/sys\/net\/ipv4\/ip_local_port_range:1: /);
  });

  it('refuses numbers that are not decimal ports', () => {
    for (const text of ['0x10 0x20', '1e3 2e3', '-5 10', '70000 80000']) {
      expect(() => parsePortRange(text), text).toThrow(ParseError);
    }
  });
});

describe('parseProcMount, hidesProcesses, hasEffectiveCapability', () => {
  // Lines as /proc/self/mountinfo writes them (a Debian host, a container's /proc hidden by a
  // second mount on top, a mount point with a space).
  const MOUNTINFO = [
    '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    '23 22 0:22 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw,fd=29',
    '61 22 0:51 / /proc rw,relatime shared:30 - proc proc rw,gid=4242,hidepid=invisible',
    '70 1 0:52 / /srv/my\\040proc rw,relatime - proc proc rw,hidepid=2',
    '71 1 0:53 / /run/user rw - tmpfs tmpfs rw,hidepid=2',
  ].join('\n');

  it('reads the last proc mount at the mount point, with its hidepid and gid options', () => {
    expect(parseProcMount(MOUNTINFO, '/proc')).toEqual({ hidepid: 'invisible', gid: 4242 });
    expect(parseProcMount(MOUNTINFO, '/srv/my proc')).toEqual({ hidepid: '2', gid: null });
    expect(parseProcMount(MOUNTINFO.split('\n')[0]!, '/proc')).toEqual({ hidepid: '0', gid: null });
  });

  it('is null where no proc file system is mounted (another type, or nothing)', () => {
    expect(parseProcMount(MOUNTINFO, '/run/user')).toBeNull();
    expect(parseProcMount(MOUNTINFO, '/nowhere')).toBeNull();
    expect(parseProcMount('', '/proc')).toBeNull();
  });

  it('hidepid 2/invisible and 4/ptraceable hide processes; 0/off and 1/noaccess only their contents', () => {
    for (const v of ['2', 'invisible', '4', 'ptraceable']) expect(hidesProcesses(v), v).toBe(true);
    for (const v of ['0', 'off', '1', 'noaccess']) expect(hidesProcesses(v), v).toBe(false);
  });

  it('reads CapEff bits (CAP_SYS_PTRACE is bit 19)', () => {
    const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;
    expect(hasEffectiveCapability(status('000001ffffffffff'), 19)).toBe(true);
    expect(hasEffectiveCapability(status('0000000000080000'), 19)).toBe(true);
    expect(hasEffectiveCapability(status('0000000000000000'), 19)).toBe(false);
    expect(hasEffectiveCapability(status('0000000000040000'), 19)).toBe(false);
    expect(hasEffectiveCapability('Name:\tx\n', 19)).toBe(false);
  });
});

describe('decodeExact', () => {
  /** The bytes a decodeExact() string stands for. */
  const bytesOf = (text: string): Buffer =>
    Buffer.concat([...text].map((c) => {
      const code = c.codePointAt(0)!;
      return code >= 0xdc80 && code <= 0xdcff ? Buffer.from([code - 0xdc00]) : Buffer.from(c, 'utf8');
    }));

  it('reads valid UTF-8 as its characters', () => {
    expect(decodeExact(Buffer.from('nginx: worker ✓ 😀'))).toBe('nginx: worker ✓ 😀');
    expect(decodeExact(Buffer.from('a\ufffdb'))).toBe('a\ufffdb'); // a real replacement character stays one
  });

  it('keeps each byte of an invalid sequence as its own escape', () => {
    expect(decodeExact(Buffer.from([0x61, 0xff, 0xfe, 0x62]))).toBe('a\udcff\udcfeb');
    expect(decodeExact(Buffer.from([0xc3, 0x28]))).toBe('\udcc3('); // lead byte without its continuation
    expect(decodeExact(Buffer.from([0xc0, 0x80]))).toBe('\udcc0\udc80'); // overlong NUL
    expect(decodeExact(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\udced\udca0\udc80'); // an encoded surrogate
    expect(decodeExact(Buffer.from([0xe2, 0x9c]))).toBe('\udce2\udc9c'); // cut short at the end
  });

  it('gives back exactly the bytes it read, whatever they are', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        expect(bytesOf(decodeExact(raw)).equals(Buffer.from(raw))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
