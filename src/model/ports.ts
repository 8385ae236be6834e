/**
 * Ports that attack tools and back doors favour. A listener on one raises a finding's severity,
 * and the ephemeral-port rule never leaves it out (54321 is inside the default range).
 */
export const SUSPICIOUS_PORTS: ReadonlyMap<number, string> = new Map([
  [4444, 'the Metasploit default port'],
  [31337, 'a classic back-door port'],
  [1337, 'a classic back-door port'],
  [6667, 'IRC, used for botnet command and control'],
  [6666, 'IRC, used for botnet command and control'],
  [6697, 'IRC over TLS, used for botnet command and control'],
  [12345, 'the NetBus back-door port'],
  [54321, 'a common back-door port'],
  [9001, 'the Tor relay port'],
  [9050, 'the Tor SOCKS port'],
]);

/**
 * The ephemeral-port rule, as a capture applies it and as a comparison narrows by it: listeners
 * on ports of `range` are left out, in namespace `netns` only (netmon's own, whose range it read;
 * null: none; absent: every namespace, as snapshots before the rule was per namespace), and never
 * those on `reserved` ports (the kernel does not hand them out) or on back-door ports.
 */
export interface EphemeralRule {
  range: [number, number];
  netns?: number | null;
  reserved?: ReadonlySet<number>;
}

/** Whether the rule leaves out a listener on `port` in namespace `netns`. Pure. */
export function leftOutAsEphemeral(rule: EphemeralRule, port: number, netns: number): boolean {
  return port >= rule.range[0] && port <= rule.range[1] && (rule.netns === undefined || netns === rule.netns) && !(rule.reserved?.has(port) ?? false) && !SUSPICIOUS_PORTS.has(port);
}
