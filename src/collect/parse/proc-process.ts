import { ParseError } from '../../errors.js';

/** An unsigned decimal number (what the kernel prints), or NaN; unlike Number(), '' is not 0. */
function decimal(text: string | undefined): number {
  return text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : NaN;
}

/** Fields netmon takes from /proc/<pid>/stat (proc(5): "/proc/pid/stat"). */
export interface ProcStat {
  pid: number;
  /** comm: at most 15 bytes, may contain spaces and parentheses. */
  name: string;
  state: string;
  ppid: number;
  /** Field 22: start time in clock ticks since boot. */
  startTicks: number;
  /** Field 9: the kernel's flags of the process (PF_KTHREAD and others); absent from a truncated line. */
  flags?: number;
}

/** The flag of a kernel thread in field 9 of /proc/<pid>/stat (include/linux/sched.h). */
export const PF_KTHREAD = 0x00200000;

/**
 * Parse /proc/<pid>/stat. The command name sits in parentheses and may itself contain
 * ") " (it is chosen by the process), so the name ends at the LAST ')' in the line.
 */
export function parseProcStat(text: string, source = 'stat'): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new ParseError(source, 1, 'no "(comm)" field');
  const pid = decimal(text.slice(0, open).trim());
  const rest = text.slice(close + 2).trim().split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const state = rest[0];
  const ppid = decimal(rest[1]);
  const startTicks = decimal(rest[19]);
  if (!Number.isInteger(pid) || state === undefined || !Number.isInteger(ppid) || !Number.isFinite(startTicks)) {
    throw new ParseError(source, 1, 'fields pid, state, ppid or starttime are missing or not numbers');
  }
  // Field 9, the kernel's per-process flags (PF_*); absent only from a truncated line.
  const flags = decimal(rest[6]);
  return { pid, name: text.slice(open + 1, close), state, ppid, startTicks, ...(Number.isSafeInteger(flags) ? { flags } : {}) };
}

/** Real and effective ids from /proc/<pid>/status ("Uid:\treal\teffective\tsaved\tfs"). */
export interface ProcStatus {
  name: string | null;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
}

export function parseProcStatus(text: string, source = 'status'): ProcStatus {
  let uid: number[] | undefined;
  let gid: number[] | undefined;
  let name: string | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('Uid:')) uid = line.slice(4).trim().split(/\s+/).map(decimal);
    else if (line.startsWith('Gid:')) gid = line.slice(4).trim().split(/\s+/).map(decimal);
    else if (line.startsWith('Name:')) name = line.slice(5).trim();
  }
  if (!uid || !gid || uid.length < 2 || gid.length < 2 || [...uid, ...gid].some((n) => !Number.isInteger(n))) {
    throw new ParseError(source, undefined, 'missing or malformed Uid:/Gid: lines');
  }
  return { name, uid: uid[0]!, euid: uid[1]!, gid: gid[0]!, egid: gid[1]! };
}

/**
 * /proc/<pid>/cmdline: arguments separated (and usually ended) by NUL bytes. A process that
 * rewrites its title (setproctitle, Node's process.title) leaves NUL padding behind, so trailing
 * empty arguments are dropped.
 */
export function parseCmdline(text: string): string[] {
  if (text.length === 0) return [];
  const parts = text.split('\0');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Container id from /proc/<pid>/cgroup: the 64-hex id that Docker, containerd, CRI-O and
 * podman put in the cgroup path (e.g. ".../docker-<id>.scope", "/docker/<id>",
 * ".../cri-containerd-<id>.scope", ".../crio-<id>.scope", ".../libpod-<id>.scope").
 */
export function parseContainerId(text: string): string | null {
  for (const line of text.split('\n')) {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    const match = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:\/|$)/.exec(path);
    if (match) return match[1]!;
  }
  return null;
}

/** "net:[4026531840]" -> 4026531840 (readlink of /proc/<pid>/ns/net). */
export function parseNamespaceLink(link: string): number | null {
  const match = /^[a-z_]+:\[(\d+)\]$/.exec(link);
  return match ? Number(match[1]) : null;
}

/** "socket:[12345]" -> 12345; null for any other descriptor target. */
export function parseSocketLink(link: string): number | null {
  const match = /^socket:\[(\d+)\]$/.exec(link);
  return match ? Number(match[1]) : null;
}

/** btime from /proc/stat: boot time in seconds since the epoch. */
export function parseBootTime(text: string): number | null {
  const match = /^btime (\d+)$/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** /proc/sys/net/ipv4/ip_local_port_range: "32768\t60999". */
export function parsePortRange(text: string, source = 'ip_local_port_range'): [number, number] {
  const parts = text.trim().split(/\s+/).map(decimal);
  const [low, high] = parts;
  if (parts.length !== 2 || low === undefined || high === undefined || !(low <= high) || high > 65535) {
    throw new ParseError(source, 1, `expected "LOW HIGH", got ${JSON.stringify(text.trim())}`);
  }
  return [low, high];
}

/**
 * /proc/sys/net/ipv4/ip_local_reserved_ports: "8080,9148-9150" (empty when none), the ports the
 * kernel never hands out as ephemeral ones, in order, each once.
 */
export function parseReservedPorts(text: string, source = 'ip_local_reserved_ports'): number[] {
  const ports = new Set<number>();
  const trimmed = text.trim();
  if (trimmed === '') return [];
  for (const part of trimmed.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const low = m ? Number(m[1]) : NaN;
    const high = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(low <= high) || high > 65535) throw new ParseError(source, 1, `expected ports and ranges such as "8080,9148-9150", got ${JSON.stringify(trimmed)}`);
    for (let p = low; p <= high; p++) ports.add(p);
  }
  return [...ports].sort((a, b) => a - b);
}

/** How a proc file system is mounted, as far as process visibility goes. */
export interface ProcMount {
  /** The hidepid option as written (0, 1, 2, 4, off, noaccess, invisible, ptraceable); "0" without one. */
  hidepid: string;
  /** The gid= option: members of this group see every process. */
  gid: number | null;
}

/** Undo mountinfo's octal escapes (space, tab, newline, backslash). */
const unescapeMount = (text: string): string => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/**
 * The proc mount at `mountPoint` in /proc/self/mountinfo (the last one there, which hides any
 * below it), or null when no proc file system is mounted there. Pure.
 */
export function parseProcMount(mountinfo: string, mountPoint: string): ProcMount | null {
  let found: ProcMount | null = null;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields[dash + 1] !== 'proc' || unescapeMount(fields[4] ?? '') !== mountPoint) continue;
    let hidepid = '0';
    let gid: number | null = null;
    for (const option of (fields[dash + 3] ?? '').split(',')) {
      if (option.startsWith('hidepid=')) hidepid = option.slice(8);
      else if (/^gid=\d+$/.test(option)) gid = Number(option.slice(4));
    }
    found = { hidepid, gid };
  }
  return found;
}

/** Whether a hidepid value hides other users' processes from listing (not only their contents). */
export function hidesProcesses(hidepid: string): boolean {
  return hidepid === '2' || hidepid === 'invisible' || hidepid === '4' || hidepid === 'ptraceable';
}

/** Whether /proc/<pid>/status shows capability `bit` in CapEff. Pure. */
export function hasEffectiveCapability(status: string, bit: number): boolean {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match !== null && (BigInt(`0x${match[1]!}`) & (1n << BigInt(bit))) !== 0n;
}

const exactUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Text the kernel hands over as bytes (a process name, its command line, an executable path),
 * decoded so that no byte is lost: valid UTF-8 as the characters it encodes, and each byte that
 * is not part of valid UTF-8 as the lone surrogate U+DC00 + byte (as Python's surrogateescape
 * does). Two names that differ only in such bytes stay different; JSON writes these as
 * "\udcff", from which the bytes can be restored; printable() shows them as \xff. Pure.
 */
export function decodeExact(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.includes('\ufffd')) return text; // valid UTF-8 (nearly always)
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 1) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    if (len > 0 && i + len <= bytes.length) {
      try {
        out += exactUtf8.decode(bytes.subarray(i, i + len));
        i += len;
        continue;
      } catch {
        // not a whole valid sequence: the lead byte is escaped, the rest read again
      }
    }
    out += String.fromCharCode(0xdc00 + b);
    i++;
  }
  return out;
}
