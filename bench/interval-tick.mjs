// Measures `netmon --interval` ticks in this process, through the library: CPU time and wall time
// of a tick when nothing changed, and the bytes the evidence store grows by per such tick; then the
// same for ticks between which CHURN of this process's own loopback connections were replaced (a
// busy server: new sockets to attribute, old ones gone). Connections are reset, not closed, so that
// no TIME_WAIT socket outlives the run. The churn itself is not timed, only the ticks.
// usage: node bench/interval-tick.mjs SCRATCH_DIR [TICKS] [CHURN]   (prints one JSON line)
import { statSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CaptureSession } from '../dist/capture/capture.js';

const [dir, ticksArg = '20', churnArg = '0'] = process.argv.slice(2);
const ticks = Number(ticksArg);
const churn = Number(churnArg);
const db = join(dir, 'interval.db');
const Database = createRequire(import.meta.url)('better-sqlite3');

/** Logical size of the store: pages in use after folding the WAL into the main file. */
function storeBytes() {
  const conn = new Database(db);
  conn.pragma('wal_checkpoint(TRUNCATE)');
  const bytes = conn.pragma('page_count', { simple: true }) * conn.pragma('page_size', { simple: true }) - conn.pragma('freelist_count', { simple: true }) * conn.pragma('page_size', { simple: true });
  conn.close();
  return bytes;
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const session = CaptureSession.start({ db, csv: join(dir, 'interval.csv') }, 10);
try {
  await session.tick(); // the full first tick: walk, hashes, checkpoint
  await session.tick(); // from here on the previous walk can be reused
  const before = storeBytes();
  const cpu = [];
  const wall = [];
  let changed = 0;
  for (let i = 0; i < ticks; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const r = await session.tick();
    wall.push(performance.now() - w0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    if (r.opened.length + r.closed.length > 0) changed++;
  }
  const after = storeBytes();
  const result = { ticks, changed, tickCpuMs: median(cpu), tickWallMs: median(wall), bytesPerTick: (after - before) / ticks, dbBytes: statSync(db).size };
  if (churn > 0) result.churn = await churnTicks();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  session.close();
}

/** Ticks after each of which `churn` connections (two sockets each) are closed and as many opened. */
async function churnTicks() {
  const server = createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const open = async (n) => Promise.all(Array.from({ length: n }, async () => {
    const c = createConnection({ host: '127.0.0.1', port });
    c.on('error', () => {});
    await once(c, 'connect');
    return c;
  }));
  let clients = await open(churn);
  await session.tick(); // the connections of the first batch become known
  const before = storeBytes();
  const cpu = [];
  const wall = [];
  let opened = 0;
  try {
    for (let i = 0; i < ticks; i++) {
      // Reset rather than closed: no TIME_WAIT sockets are left behind for later measurements.
      for (const c of clients) c.resetAndDestroy();
      clients = await open(churn);
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const r = await session.tick();
      wall.push(performance.now() - w0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      opened += r.opened.length;
    }
    return { ticks, connections: churn, openedPerTick: opened / ticks, tickCpuMs: median(cpu), tickWallMs: median(wall), bytesPerTick: (storeBytes() - before) / ticks };
  } finally {
    for (const c of clients) c.resetAndDestroy();
    server.close();
  }
}
