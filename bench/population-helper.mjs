// One helper process of the benchmark population (started by bench/population.mjs).
//
// It opens sockets on loopback only (127.0.0.1 and ::1), holds them, and prints one line
// "ready N" on stdout once all N sockets are open. It tears down when its stdin closes (the
// parent closed it, or the parent died) or on SIGTERM/SIGINT: established connections are
// reset (RST) rather than closed, so a teardown leaves no TIME_WAIT entries behind that would
// inflate the socket count of the next run.
//
// usage: node population-helper.mjs '{"listeners":50,"pairs":4000,"udp":40,"portBase":21000,"portEnd":21400}'
//   listeners  TCP listeners, alternating 127.0.0.1 and ::1 (plus two hub listeners that
//              accept the pairs: one per family)
//   pairs      established loopback connections; each is two sockets (client and accepted end)
//   udp        bound UDP sockets, alternating udp4/udp6; a quarter of them connect() to the
//              first one of their family, so that connected UDP shows up too
//   portBase..portEnd  fixed ports for listeners, hubs and UDP sockets (tried in order,
//              skipping ports in use). Fixed ports keep them out of the ephemeral range, where
//              netmon (by design) hides listeners unless --include-ephemeral is given.
//              portBase 0 means "let the kernel choose" (port 0).
import dgram from 'node:dgram';
import net from 'node:net';

const spec = JSON.parse(process.argv[2] ?? '{}');
const listeners = Number(spec.listeners ?? 20);
const pairs = Number(spec.pairs ?? 1000);
const udpCount = Number(spec.udp ?? 20);
const portBase = Number(spec.portBase ?? 0);
const portEnd = Number(spec.portEnd ?? 0);

const servers = [];
const tcpEnds = [];
const udps = [];
let nextTcpPort = portBase;
let nextUdpPort = portBase;

function fail(message) {
  process.stderr.write(`population-helper: ${message}\n`);
  process.exit(1);
}

/** Listen on the next free fixed port of the block (or port 0 when no block was given). */
async function listenTcp(host) {
  for (;;) {
    const port = portBase === 0 ? 0 : nextTcpPort++;
    if (portBase !== 0 && port > portEnd) fail(`no free TCP port left in ${portBase}-${portEnd}`);
    const server = net.createServer((conn) => {
      conn.on('error', () => {});
      tcpEnds.push(conn);
    });
    try {
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host, backlog: 4096, exclusive: true }, resolve);
      });
      server.on('error', () => {});
      servers.push(server);
      return server;
    } catch (error) {
      if (error.code === 'EADDRINUSE' && portBase !== 0) continue;
      throw error;
    }
  }
}

async function bindUdp(type, host) {
  for (;;) {
    const port = portBase === 0 ? 0 : nextUdpPort++;
    if (portBase !== 0 && port > portEnd) fail(`no free UDP port left in ${portBase}-${portEnd}`);
    const socket = dgram.createSocket({ type, reuseAddr: false });
    try {
      await new Promise((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, address: host, exclusive: true }, resolve);
      });
      socket.on('error', () => {});
      udps.push(socket);
      return socket;
    } catch (error) {
      socket.close();
      if (error.code === 'EADDRINUSE' && portBase !== 0) continue;
      throw error;
    }
  }
}

function connectOnce(port, host) {
  return new Promise((resolve, reject) => {
    const client = net.connect({ port, host }, () => {
      client.off('error', reject);
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', reject);
  });
}

let tearingDown = false;
function teardown() {
  if (tearingDown) return;
  tearingDown = true;
  for (const end of tcpEnds) {
    // RST instead of FIN: no TIME_WAIT left behind.
    if (typeof end.resetAndDestroy === 'function') end.resetAndDestroy();
    else end.destroy();
  }
  for (const server of servers) server.close();
  for (const socket of udps) socket.close();
  // Let the closes reach the kernel before exiting.
  setTimeout(() => process.exit(0), 100);
}

process.on('SIGTERM', teardown);
process.on('SIGINT', teardown);
process.stdin.on('end', teardown);
process.stdin.on('error', teardown);
process.stdin.resume();

// Hubs first: one per family; the pairs alternate between them.
const hub4 = await listenTcp('127.0.0.1');
const hub6 = await listenTcp('::1');
for (let i = 0; i < listeners; i++) await listenTcp(i % 2 === 0 ? '127.0.0.1' : '::1');

const BATCH = 250;
for (let i = 0; i < pairs; i += BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(pairs, i + BATCH); j++) {
    const v6 = j % 4 === 3; // a quarter of the connections over ::1
    const hub = v6 ? hub6 : hub4;
    batch.push(connectOnce(hub.address().port, v6 ? '::1' : '127.0.0.1'));
  }
  tcpEnds.push(...(await Promise.all(batch)));
}
// Every connection has both ends in this process: wait until the server side accepted all.
const deadline = Date.now() + 60_000;
while (tcpEnds.length < 2 * pairs) {
  if (Date.now() > deadline) fail(`only ${tcpEnds.length} of ${2 * pairs} connection ends after 60 s`);
  await new Promise((resolve) => setTimeout(resolve, 10));
}

const firstUdp = {};
for (let i = 0; i < udpCount; i++) {
  const type = i % 2 === 0 ? 'udp4' : 'udp6';
  const host = type === 'udp4' ? '127.0.0.1' : '::1';
  const socket = await bindUdp(type, host);
  if (!firstUdp[type]) firstUdp[type] = socket;
  else if (i % 8 >= 6) {
    await new Promise((resolve) => socket.connect(firstUdp[type].address().port, host, resolve));
  }
}

const total = servers.length + tcpEnds.length + udps.length;
process.stdout.write(`ready ${total}\n`);
setInterval(() => {}, 1 << 30);
