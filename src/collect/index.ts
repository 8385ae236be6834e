import { CollectorError } from '../errors.js';
import type { PlatformCollector } from './collector.js';
import { LinuxCollector } from './linux.js';

export type { PlatformCollector, SocketScan, NamespaceScan, RawProcess, Accounts, ScanOptions } from './collector.js';
export { LinuxCollector, defaultLinuxDeps, type LinuxDeps, type ScanEngine } from './linux.js';

/**
 * The one platform switch: the collector for the running OS. Every platform adapter
 * satisfies `PlatformCollector`; nothing else in netmon reads `process.platform`.
 */
export function platformCollector(platform: string = process.platform): PlatformCollector {
  switch (platform) {
    case 'linux':
      return new LinuxCollector();
    default:
      throw new CollectorError('E_PLATFORM', `netmon cannot collect sockets on ${platform} yet: only Linux is supported`, {
        hint: 'run netmon on a Linux host; other platforms are planned',
      });
  }
}
