import type { NamespaceRecord } from './types.js';

type Named = Pick<NamespaceRecord, 'inode' | 'name' | 'host'>;

/**
 * Whether an `ip netns` name could read as one of the names netmon makes itself: `host`, a bare
 * inode, `netns:<inode>`, or this escape's own prefix. `ip` accepts any of them, and a container
 * named `host` must never pass for the host (nor one named `4026531833` for an unnamed namespace).
 */
function reservedName(name: string): boolean {
  return name === 'host' || /^[0-9]+$/.test(name) || name.startsWith('netns:') || name.startsWith('netns-name:');
}

/**
 * How findings and ECS documents name a network namespace (finding rules 4): `host`, its `ip netns`
 * name, or `netns:<inode>` for one without a name; a name that could read as one of those is
 * `netns-name:<name>`. No two namespaces of a capture get the same label. Pure.
 */
export function namespaceLabel(n: Named): string {
  if (n.host) return 'host';
  if (n.name === null || n.name === undefined) return `netns:${n.inode}`;
  return reservedName(n.name) ? `netns-name:${n.name}` : n.name;
}

/** The labels of finding rules 1 to 3, where a namespace named `host` read as the host. Pure. */
export function legacyNamespaceLabel(n: Named): string {
  return n.host ? 'host' : (n.name ?? `netns:${n.inode}`);
}

/**
 * How the live view (the NETNS column, the `--interval` change lines) shows a namespace: as
 * namespaceLabel, but a namespace without a name as its bare inode. Not made printable. Pure.
 */
export function namespaceShown(n: Named): string {
  return n.host || (n.name !== null && n.name !== undefined) ? namespaceLabel(n) : String(n.inode);
}
