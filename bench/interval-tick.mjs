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
import { EvidenceStore } from '../dist/store/evidence-store.js';

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

/**
 * `ticks` ticks of the session, each after `prepare` (not timed): median CPU and wall time of a
 * tick, and the store's growth per tick. `seen` gets each tick's result (not kept: 28,000 sockets).
 */
async function timedTicks(prepare, seen) {
  const before = storeBytes();
  const cpu = [];
  const wall = [];
  for (let i = 0; i < ticks; i++) {
    await prepare();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    seen(await session.tick());
    wall.push(performance.now() - w0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { tickCpuMs: median(cpu), tickWallMs: median(wall), bytesPerTick: (storeBytes() - before) / ticks };
}

const session = CaptureSession.start({ db, csv: join(dir, 'interval.csv') }, 10);
try {
  await session.tick(); // the full first tick: walk, hashes, checkpoint
  await session.tick(); // from here on the previous walk can be reused
  let changed = 0;
  const timed = await timedTicks(async () => {}, (r) => {
    if (r.opened.length + r.closed.length > 0) changed++;
  });
  const result = { ticks, changed, ...timed, dbBytes: statSync(db).size };
  if (churn > 0) result.churn = await churnTicks();
  session.close();
  result.verify = verifyStore();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  session.close();
  throw error;
}

/** `verify-store` of the store these ticks wrote, through the library (as `report` runs it first). */
function verifyStore() {
  const store = EvidenceStore.open(db, { readonly: true });
  try {
    const w0 = performance.now();
    const v = store.verify();
    const ms = performance.now() - w0;
    if (!v.ok) throw new Error(`the bench's store fails verification: ${JSON.stringify(v.problem)}`);
    return { ms, records: v.records, snapshots: v.snapshots, items: v.items };
  } finally {
    store.close();
  }
}

/** Ticks before each of which `churn` connections (two sockets each) are reset and as many opened. */
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
  let opened = 0;
  try {
    const timed = await timedTicks(
      async () => {
        // Reset rather than closed: no TIME_WAIT sockets are left behind for later measurements.
        for (const c of clients) c.resetAndDestroy();
        clients = await open(churn);
      },
      (r) => {
        opened += r.opened.length;
      },
    );
    return { ticks, connections: churn, openedPerTick: opened / ticks, ...timed };
  } finally {
    for (const c of clients) c.resetAndDestroy();
    server.close();
  }
}
