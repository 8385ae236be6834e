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
