import { canonicalAddress } from './address.js';

/**
 * Address -> first host name, from /etc/hosts (hosts(5)): "ADDRESS NAME [ALIAS...]", "#" comments.
 * netmon never sends DNS queries while collecting; this is the only name source.
 */
export function parseHostsFile(text: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, name] = line.split(/\s+/);
    if (!address || !name) continue;
    const canonical = canonicalAddress(address);
    if (canonical !== null && !names.has(canonical)) names.set(canonical, name);
  }
  return names;
}
