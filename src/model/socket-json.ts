import type { SocketRecord } from './types.js';

/**
 * One socket as JSON, the same as JSON.stringify(socket) up to key order but several times
 * faster: inventories reach tens of thousands of sockets.
 */
export function socketToJson(s: SocketRecord, qq: (text: string) => string = JSON.stringify): string {
  let owners = '';
  for (let i = 0; i < s.owners.length; i++) {
    const o = s.owners[i]!;
    owners += `${i > 0 ? ',' : ''}{"pid":${o.pid},"fd":${o.fd}}`;
  }
  return (
    `{"transport":${qq(s.transport)},"family":${qq(s.family)},"localAddress":${qq(s.localAddress)},"localPort":${s.localPort},` +
    `"remoteAddress":${qq(s.remoteAddress)},"remotePort":${s.remotePort},"state":${qq(s.state)},"uid":${s.uid},"inode":${s.inode},` +
    `"netns":${s.netns},"listening":${s.listening},"owners":[${owners}]${s.unattributed === undefined ? '' : `,"unattributed":${qq(s.unattributed)}`}}`
  );
}

