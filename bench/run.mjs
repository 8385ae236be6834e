#!/usr/bin/env node
// netmon benchmark: netmon against `ss -tunap` and a psutil script, on one socket population,
// in one run. See docs/benchmarks.md for what each figure means.
//
//   npm run bench                                         full size: 28,000 sockets, 5 runs
//   NETMON_BENCH_SOCKETS=2000 NETMON_BENCH_RUNS=3 npm run bench      quick check
//   NETMON_BENCH_OUT=/path/results.json                   where the JSON results go
//                                                         (default: <os.tmpdir()>/netmon-bench-latest.json)
//   NETMON_BENCH_PER_HELPER=10000                         most sockets one helper process holds
//   NETMON_BENCH_PROCESSES=2000                           processes of the many-processes line
//                                                         (information; 0 leaves it out)
//   NETMON_BENCH_KEEP_SCRATCH=1                           keep the scratch directory (the --once
//                                                         store, CSV trail, report packs) to inspect
//
// Exit status: 0 when the measurement completed, whatever the targets say (this measures, it
// does not judge a build); 1 when the harness itself failed; 130/143 on SIGINT/SIGTERM.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, chooseMemoryMethod, cleanupMeasure, measure } from './measure.mjs';
import { startManyProcesses } from './many-processes.mjs';
import { planPopulation, softFdLimit, startPopulation } from './population.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const PEER = join(BENCH_DIR, 'netmon_peer.py');
const SYSTEM_PYTHON = '/usr/bin/python3';
const MiB = 1024; // KiB per MiB

const TARGETS = { wallVsSs: 1.0, wallVsPeer: 0.6, peakMiB: 150, onceVsPeer: 0.6, tickCpuVsSs: 0.35, bytesPerTick: 2048, diffVsOnce: 0.5, reportVsOnce: 5, reportPdfMiB: 5 };
const INTERVAL_TICKS = 20;

const log = (line = '') => process.stdout.write(`${line}\n`);
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function envInt(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

// ---- teardown on every path --------------------------------------------------------------
let population = null;
/** The many-processes population, while it runs. */
let manyProcesses = null;
let scratch = null;
/** Remove the scratch directory, or say where it is with NETMON_BENCH_KEEP_SCRATCH=1. */
function removeScratch() {
  if (scratch && process.env.NETMON_BENCH_KEEP_SCRATCH === '1') process.stderr.write(`bench: scratch directory kept: ${scratch}\n`);
  else if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}
let interrupted = false;
process.on('exit', () => {
  population?.killNow();
  manyProcesses?.killNow();
  removeScratch();
  cleanupMeasure();
});
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}: stopping the socket population\n`);
    interrupted = true;
    if (!population) process.exit(code);
    // Graceful first (helpers reset their connections: no TIME_WAIT left), SIGKILL after 3 s.
    setTimeout(() => process.exit(code), 3000).unref();
    population.stop().finally(() => process.exit(code));
  });
}

// ---- small helpers -------------------------------------------------------------------------
function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function sh(command, args) {
  const res = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  return res.status === 0 ? res.stdout : null;
}

/** Latest modification time (ms) of the files under a directory; 0 when it is missing. */
function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function countLines(text) {
  let n = 0;
  for (const line of text.split('\n')) if (line.trim() !== '') n++;
  return n;
}

/** What `ss -tunaH | wc -l` says. */
function ssCount() {
  const out = sh('ss', ['-tunaH']);
  if (out === null) throw new Error('ss -tunaH failed');
  return countLines(out);
}

function timeWaitCount() {
  const out = sh('ss', ['-tanH', 'state', 'time-wait']);
  return out === null ? null : countLines(out);
}

function machine() {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'unknown';
  return {
    nproc: Number((sh('nproc', []) ?? '').trim()) || os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    distro,
    node: process.version,
    ss: (sh('ss', ['-V']) ?? '').trim(),
  };
}

/** The psutil peer needs Debian's python3-psutil under the system python. */
function preparePeer() {
  const probe = () =>
    existsSync(SYSTEM_PYTHON)
      ? spawnSync(SYSTEM_PYTHON, ['-c', 'import psutil, sys; print(psutil.__version__, sys.version.split()[0])'], { encoding: 'utf8' })
      : null;
  let res = probe();
  if (!res || res.status !== 0) {
    if (!isRoot()) return { ok: false, reason: `psutil is not importable by ${SYSTEM_PYTHON} and installing python3-psutil needs root` };
    if (!aptInstall('python3-psutil', (m) => log(`  ${m}`))) return { ok: false, reason: 'apt-get install python3-psutil failed' };
    res = probe();
    if (!res || res.status !== 0) return { ok: false, reason: `psutil still not importable by ${SYSTEM_PYTHON}` };
  }
  const [psutilVersion, pythonVersion] = res.stdout.trim().split(' ');
  return { ok: true, psutilVersion, pythonVersion };
}

const pad = (text, width) => String(text).padEnd(width);
const lpad = (text, width) => String(text).padStart(width);
const fmtS = (s) => (s === null || s === undefined ? 'n/a' : s.toFixed(3));
const fmtMiB = (kib) => (kib === null || kib === undefined ? 'n/a' : (kib / MiB).toFixed(1));
const fmtX = (x) => (x === null ? 'n/a' : `${x.toFixed(2)}x`);

// ---- the benchmark -------------------------------------------------------------------------
async function main() {
  const total = envInt('NETMON_BENCH_SOCKETS', 28_000, 16);
  const runs = envInt('NETMON_BENCH_RUNS', 5, 1);
  const perHelperCap = envInt('NETMON_BENCH_PER_HELPER', 10_000, 64);
  const outPath = process.env.NETMON_BENCH_OUT || join(os.tmpdir(), 'netmon-bench-latest.json');

  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build), or use npm run bench`);
  const stale = newestMtime(join(ROOT, 'src')) > statSync(CLI).mtimeMs;
  if (sh('ss', ['-V']) === null && !(aptInstall('iproute2', (m) => log(`  ${m}`)) && sh('ss', ['-V']) !== null)) {
    throw new Error('ss (iproute2) is not available');
  }

  const host = machine();
  // NODE_EXTRA_CA_CERTS makes every Node.js 20 process load the whole CA store while it starts
  // (nodejs/node#40524), before any of netmon's code runs. Sandboxes behind a TLS proxy set it;
  // servers rarely do. The commands run without it unless NETMON_BENCH_KEEP_ENV=1, and one extra
  // line times netmon with it, so both figures are on record.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const keepEnv = process.env.NETMON_BENCH_KEEP_ENV === '1';
  const runEnv = { ...process.env };
  let startupCost = null;
  if (extraCa !== undefined && !keepEnv) delete runEnv.NODE_EXTRA_CA_CERTS;
  log('netmon benchmark');
  log(`  machine: ${host.nproc} CPUs (${host.cpu}), ${host.memoryGiB} GiB RAM, Linux ${host.kernel}, ${host.distro}`);
  log(`  node ${host.node}; ${host.ss}`);
  const loadBefore = os.loadavg()[0];
  log(`  load average (1 min) at start: ${loadBefore.toFixed(2)}`);
  if (loadBefore > host.nproc * 0.25) log('  note: the machine is not idle; other work adds noise to every figure (ratios of one run stay comparable)');

  if (extraCa !== undefined) {
    const bootMs = (env) => {
      const times = [];
      for (let i = 0; i < 7; i++) {
        const t = performance.now();
        spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env });
        times.push(performance.now() - t);
      }
      return median(times);
    };
    const noCa = { ...process.env };
    delete noCa.NODE_EXTRA_CA_CERTS;
    const withCa = bootMs(process.env);
    const withoutCa = bootMs(noCa);
    startupCost = { withMs: withCa, withoutMs: withoutCa, kept: keepEnv };
    log(`  note: NODE_EXTRA_CA_CERTS is set here (${extraCa}); Node.js then loads its CA store at every start-up: node -e 0 takes ${withCa.toFixed(0)} ms with it, ${withoutCa.toFixed(0)} ms without`);
    log(
      keepEnv
        ? '  commands run with it (NETMON_BENCH_KEEP_ENV=1)'
        : '  commands run without it, as on a server that does not set it (NETMON_BENCH_KEEP_ENV=1 keeps it); one extra line times netmon with it',
    );
  }
  if (stale) log('  note: src/ has changed since dist/ was built: these figures are for the older build (npm run bench rebuilds)');
  const memory = chooseMemoryMethod((m) => log(`  ${m}`));
  log(`  peak memory: ${memory.describe}`);
  const peer = preparePeer();
  log(peer.ok ? `  psutil peer: psutil ${peer.psutilVersion} on Python ${peer.pythonVersion} (${SYSTEM_PYTHON})` : `  psutil peer: skipped (${peer.reason})`);

  const fdLimit = softFdLimit();
  const plan = planPopulation(total, { fdLimit, perHelperCap });
  const baseline = ssCount();
  const timeWaitBefore = timeWaitCount();
  log(`  open-file soft limit: ${fdLimit}; ${plan.helpers} helper process(es), at most ${plan.capacity} sockets each`);
  log(`  sockets before the population: ${baseline} (of which TIME_WAIT: ${timeWaitBefore ?? 'n/a'})`);
  if (timeWaitBefore !== null && timeWaitBefore > Math.max(200, total * 0.02)) {
    log(`  note: ${timeWaitBefore} TIME_WAIT sockets left by earlier runs count in every tool's total; they expire within 60 s`);
  }

  log(`  opening ${total} sockets on 127.0.0.1/::1 (${plan.listeners} listeners, ${plan.pairs} established pairs, ${plan.udp} UDP) ...`);
  const openStarted = Date.now();
  population = await startPopulation(plan);
  log(`  population ready: ${population.opened} sockets in ${((Date.now() - openStarted) / 1000).toFixed(1)} s`);

  scratch = mkdtempSync(join(os.tmpdir(), 'netmon-bench-'));
  const benchDir = scratch;
  const commands = [
    { key: 'netmon', label: 'netmon snapshot --no-hash-binaries -o json', cmd: process.execPath, args: [CLI, 'snapshot', '--no-hash-binaries', '--output', 'json'] },
    { key: 'ss', label: 'ss -tunap', cmd: 'ss', args: ['-tunap'] },
    ...(peer.ok ? [{ key: 'peer', label: 'psutil peer (netmon_peer.py)', cmd: SYSTEM_PYTHON, args: [PEER, join(scratch, 'network_connections.csv')] }] : []),
    { key: 'netmonHash', label: 'netmon snapshot -o json (hashing, cold)', cmd: process.execPath, args: [CLI, 'snapshot', '--output', 'json'] },
    // The same as the first line without the native scanner: what users get where the addon was
    // not built (no compiler at install time).
    { key: 'netmonJs', label: 'netmon, JavaScript scanner (NETMON_NATIVE=0)', cmd: process.execPath, args: [CLI, 'snapshot', '--no-hash-binaries', '--output', 'json'], env: { ...runEnv, NETMON_NATIVE: '0' } },
    // The evidence capture: live view, CSV trail and SQLite store. The warm-up run creates the store
    // and fills its hash cache, as the first capture on a server does; timed runs are later captures.
    { key: 'netmonOnce', label: 'netmon --once (store + CSV, hashing)', cmd: process.execPath, args: [CLI, '--once', '--db', join(scratch, 'bench.db'), '--csv', join(scratch, 'bench.csv')] },
    // Change detection over the store the line above fills: the first capture against the latest.
    ...(extraCa !== undefined && !keepEnv
      ? [{ key: 'netmonCa', label: 'netmon snapshot, NODE_EXTRA_CA_CERTS set', cmd: process.execPath, args: [CLI, 'snapshot', '--no-hash-binaries', '--output', 'json'], env: { ...process.env } }]
      : []),
    { key: 'netmonDiff', label: 'netmon diff (first vs latest, JSON)', cmd: process.execPath, args: [CLI, 'diff', '--pre', 'first', '--post', 'latest', '--db', join(scratch, 'bench.db'), '--fail-on', 'critical', '--output', 'json'] },
    // The signed evidence pack (PDF, CSVs, evidence.json, manifest) of the same two snapshots;
    // each run writes into its own directory, since a pack is never written over another.
    { key: 'netmonReport', label: 'netmon report (signed PDF pack)', cmd: process.execPath, args: () => [CLI, 'report', '--pre', 'first', '--post', 'latest', '--db', join(benchDir, 'bench.db'), '--keys', join(benchDir, 'keys'), '--out', join(benchDir, `reports-${++reportRuns}`)], shownArgs: [CLI, 'report', '--pre', 'first', '--post', 'latest', '--db', '<tmp>/bench.db', '--keys', '<tmp>/keys', '--out', '<tmp>/reports-N'] },
  ];
  let reportRuns = 0;
  if (sh(process.execPath, [CLI, 'keygen', '--keys', join(scratch, 'keys')]) === null) throw new Error('netmon keygen failed');
  const samples = Object.fromEntries(commands.map((c) => [c.key, []]));
  let counts;
  let timeWaitAfter = null;
  let intervalTick = null;
  let onceAfterChange = null;
  let loadAfter = null;
  let reportPdfBytes = null;

  try {
    // Warm-up: one untimed run of each (page cache, Python's bytecode cache). netmon's output of
    // this run is kept to count what it saw, right next to ss's count of the same moment.
    log(`  warm-up run of each command (not timed) ...`);
    const snapFile = join(scratch, 'snapshot.json');
    for (const c of [...commands]) {
      const res = await measure(memory, c.cmd, typeof c.args === 'function' ? c.args() : c.args, { ...(c.key === 'netmon' ? { stdoutPath: snapFile } : {}), env: c.env ?? runEnv });
      if (res.exitCode !== 0) {
        if (c.key === 'peer') {
          log(`  psutil peer: skipped (it exited with status ${res.exitCode}: ${res.stderr.trim().split('\n').pop() ?? ''})`);
          commands.splice(commands.indexOf(c), 1);
          delete samples.peer;
          peer.ok = false;
          peer.reason = `exit status ${res.exitCode}`;
          continue;
        }
        throw new Error(`${c.label} exited with status ${res.exitCode}: ${res.stderr.trim().slice(-2000)}`);
      }
      // A second untimed capture: diff and report compare the store's first snapshot with its
      // latest, and a report refuses a window of one snapshot.
      if (c.key === 'netmonOnce') {
        const again = await measure(memory, c.cmd, c.args, { env: c.env ?? runEnv });
        if (again.exitCode !== 0) throw new Error(`${c.label} (second warm-up) exited with status ${again.exitCode}: ${again.stderr.trim().slice(-2000)}`);
      }
      if (c.key === 'netmon') {
        const ssSaw = ssCount();
        const doc = JSON.parse(readFileSync(snapFile, 'utf8'));
        counts = {
          netmonCoverageTotal: doc.coverage?.total ?? null,
          netmonSockets: Array.isArray(doc.sockets) ? doc.sockets.length : null,
          netmonAttributed: doc.coverage?.attributed ?? null,
          netmonWarnings: (doc.warnings ?? []).map((w) => w.code),
          ss: ssSaw,
          population: population.opened,
          baseline,
        };
        rmSync(snapFile, { force: true });
      }
    }

    for (let round = 0; round < runs; round++) {
      // Rotate the order each round so that no command always runs first or last.
      const order = commands.map((_, i) => commands[(i + round) % commands.length]);
      const parts = [];
      for (const c of order) {
        if (interrupted) throw new Error('interrupted');
        const res = await measure(memory, c.cmd, typeof c.args === 'function' ? c.args() : c.args, { env: c.env ?? runEnv });
        if (res.exitCode !== 0) throw new Error(`${c.label} exited with status ${res.exitCode} in run ${round + 1}: ${res.stderr.trim().slice(-2000)}`);
        samples[c.key].push({ wallS: res.wallS, peakKiB: res.peakKiB, cpuS: res.cpuS });
        parts.push(`${c.key} ${res.wallS.toFixed(2)}s`);
      }
      log(`  run ${round + 1}/${runs}: ${parts.join(', ')}`);
    }
    // Interval ticks, measured inside one process while the population is still up.
    const churn = Math.max(1, Math.round(total / 200)); // connections: 1% of the sockets replaced per tick
    log(`  interval ticks: ${INTERVAL_TICKS} unchanged ticks of a capture session, then ${INTERVAL_TICKS} with ${churn} connections replaced before each ...`);
    const tick = spawnSync(process.execPath, [join(BENCH_DIR, 'interval-tick.mjs'), scratch, String(INTERVAL_TICKS), String(churn)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: runEnv });
    if (tick.status !== 0) throw new Error(`bench/interval-tick.mjs failed: ${tick.stderr.trim().slice(-2000)}`);
    intervalTick = JSON.parse(tick.stdout.trim().split('\n').pop());
    // --once on a host that changed since the last capture (information): the timed --once runs
    // above find the still population unchanged and take the store's unchanged path.
    log(`  --once after change: ${runs} captures into a store of their own, ${churn} connections replaced before each, each followed by a psutil peer run ...`);
    onceAfterChange = await onceWithChurn(memory, churn, runs, peer.ok, runEnv);
    // The largest report.pdf of the runs (the PDF summarises large inventories and points to the CSVs).
    for (let n = 1; n <= reportRuns; n++) {
      const dir = join(scratch, `reports-${n}`);
      if (!existsSync(dir)) continue;
      for (const pack of readdirSync(dir)) reportPdfBytes = Math.max(reportPdfBytes ?? 0, statSync(join(dir, pack, 'report.pdf')).size);
    }
    timeWaitAfter = timeWaitCount();
    loadAfter = os.loadavg()[0];
  } finally {
    await population.stop();
    population = null;
    removeScratch();
  }
  // A host of many small processes (information, no target): per-process work instead of per-socket.
  const manyCount = envInt('NETMON_BENCH_PROCESSES', 2000, 0);
  let many = null;
  if (manyCount > 0 && !interrupted) {
    try {
      many = await manyProcessesRun(manyCount, memory, Math.min(runs, 3), peer.ok, runEnv);
    } catch (error) {
      // An information line: its failure (no free ports, no `sleep`) does not lose the figures above.
      if (interrupted) throw error;
      log(`  many processes: skipped (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  // ---- figures -----------------------------------------------------------------------------
  const results = {};
  for (const c of commands) {
    const walls = samples[c.key].map((s) => s.wallS);
    const peaks = samples[c.key].map((s) => s.peakKiB).filter((p) => p !== null);
    results[c.key] = {
      command: [c.cmd === process.execPath ? 'node' : c.cmd, ...(c.shownArgs ?? c.args).map((a) => a.replace(ROOT + '/', ''))].join(' '),
      label: c.label,
      wallS: { median: median(walls), min: Math.min(...walls), max: Math.max(...walls), samples: walls },
      peakKiB: peaks.length ? { max: Math.max(...peaks), median: median(peaks), samples: peaks } : null,
    };
  }
  const wall = (key) => results[key]?.wallS.median ?? null;
  const ratio = (a, b) => (wall(a) !== null && wall(b) !== null ? wall(a) / wall(b) : null);
  const ratios = { netmonVsSs: ratio('netmon', 'ss'), netmonVsPeer: ratio('netmon', 'peer'), netmonHashVsSs: ratio('netmonHash', 'ss') };
  // Paired per-round figures: the commands of one round ran seconds apart, so their ratio is
  // less exposed to drift in machine load than the ratio of medians taken over all rounds.
  const paired = (a, b, f) => (samples[a] && samples[b] ? median(samples[a].map((s, i) => f(s.wallS, samples[b][i].wallS))) : null);
  const pairedRatios = {
    netmonVsSs: paired('netmon', 'ss', (x, y) => x / y),
    netmonVsPeer: paired('netmon', 'peer', (x, y) => x / y),
  };
  // Every CLI run is a new process with an empty hash cache, so every hashing run is cold.
  const hashingCostS = paired('netmonHash', 'netmon', (x, y) => x - y);
  const netmonPeak = results.netmon.peakKiB?.max ?? null;
  const hashPeak = results.netmonHash.peakKiB?.max ?? null;
  const verdict = (ok) => (ok === null ? 'SKIP' : ok ? 'PASS' : 'FAIL');
  const targets = [
    { name: `netmon wall <= ${TARGETS.wallVsSs.toFixed(1)}x ss -tunap`, value: ratios.netmonVsSs, result: verdict(ratios.netmonVsSs === null ? null : ratios.netmonVsSs <= TARGETS.wallVsSs) },
    { name: `netmon wall <= ${TARGETS.wallVsPeer.toFixed(1)}x psutil peer`, value: ratios.netmonVsPeer, result: verdict(ratios.netmonVsPeer === null ? null : ratios.netmonVsPeer <= TARGETS.wallVsPeer) },
    { name: `netmon peak memory <= ${TARGETS.peakMiB} MiB`, value: netmonPeak === null ? null : netmonPeak / MiB, result: verdict(netmonPeak === null ? null : netmonPeak <= TARGETS.peakMiB * MiB) },
  ];

  // ---- report ------------------------------------------------------------------------------
  log('');
  log(`population: ${populationLine(counts, plan)}`);
  log(`runs: ${runs} per command, order rotated each round (median of wall times; peak = highest peak RSS of the runs)`);
  log(`load average (1 min): ${loadBefore.toFixed(2)} at start, ${loadAfter === null ? 'n/a' : loadAfter.toFixed(2)} at end; peak memory by ${memory.describe}`);
  log('');
  const W = 44;
  log(`${pad('command', W)} ${lpad('median s', 9)} ${lpad('min s', 8)} ${lpad('max s', 8)} ${lpad('peak MiB', 9)}`);
  log(`${'-'.repeat(W)} ${'-'.repeat(9)} ${'-'.repeat(8)} ${'-'.repeat(8)} ${'-'.repeat(9)}`);
  for (const c of commands) {
    const r = results[c.key];
    log(`${pad(c.label, W)} ${lpad(fmtS(r.wallS.median), 9)} ${lpad(fmtS(r.wallS.min), 8)} ${lpad(fmtS(r.wallS.max), 8)} ${lpad(fmtMiB(r.peakKiB?.max), 9)}${memory.exact ? '' : ' ~'}`);
  }
  if (!peer.ok) log(`${pad('psutil peer (netmon_peer.py)', W)} skipped (${peer.reason})`);
  log('');
  log(`hashing cost (cold: every run is a new process): ${hashingCostS >= 0 ? '+' : ''}${hashingCostS.toFixed(3)} s wall`);
  log(`  (median over runs of hashing run minus the no-hash run of the same round; medians ${fmtS(wall('netmonHash'))} vs ${fmtS(wall('netmon'))} s; peak ${fmtMiB(hashPeak)} MiB)`);
  log(`ratios (median wall): netmon/ss ${fmtX(ratios.netmonVsSs)}, netmon/psutil-peer ${fmtX(ratios.netmonVsPeer)}, netmon with hashing/ss ${fmtX(ratios.netmonHashVsSs)}`);
  log(`  (median of per-round ratios: netmon/ss ${fmtX(pairedRatios.netmonVsSs)}, netmon/psutil-peer ${fmtX(pairedRatios.netmonVsPeer)})`);
  if (results.netmonCa) log(`  with NODE_EXTRA_CA_CERTS as set here: netmon/ss ${fmtX(ratio('netmonCa', 'ss'))}, netmon/psutil-peer ${fmtX(ratio('netmonCa', 'peer'))}`);
  log(`  JavaScript scanner only: netmon/ss ${fmtX(ratio('netmonJs', 'ss'))}, netmon/psutil-peer ${fmtX(ratio('netmonJs', 'peer'))}`);
  log(`sockets seen: netmon coverage.total ${counts.netmonCoverageTotal}, sockets.length ${counts.netmonSockets}; ss -tunaH | wc -l ${counts.ss}`);
  log(`  (population ${counts.population} + ${counts.baseline} before it; TIME_WAIT at start ${timeWaitBefore ?? 'n/a'}, at end ${timeWaitAfter ?? 'n/a'};`);
  log(`   netmon hides listeners on ephemeral ports unless --include-ephemeral; ss shows one namespace, netmon all)`);
  log('');
  const ssCpu = samples.ss ? median(samples.ss.map((x) => x.cpuS).filter((x) => x !== null)) : null;
  const onceVsPeer = ratio('netmonOnce', 'peer');
  const tickCpuVsSs = intervalTick && ssCpu ? intervalTick.tickCpuMs / 1000 / ssCpu : null;
  log(`evidence capture: netmon --once (store + CSV) ${fmtS(wall('netmonOnce'))} s = ${fmtX(onceVsPeer)} the psutil peer`);
  if (intervalTick) {
    log(
      `interval tick (no change, ${intervalTick.ticks} ticks, ${intervalTick.changed} saw changes): CPU ${intervalTick.tickCpuMs.toFixed(1)} ms, wall ${intervalTick.tickWallMs.toFixed(1)} ms; ` +
        `ss -tunap CPU ${ssCpu === null ? 'n/a' : `${(ssCpu * 1000).toFixed(0)} ms`} (ratio ${fmtX(tickCpuVsSs)}); store grows ${intervalTick.bytesPerTick.toFixed(0)} bytes per tick`,
    );
    const churn = intervalTick.churn;
    if (churn) {
      // Informational (no target): what a busy server's tick costs, new sockets to attribute every time.
      log(
        `interval tick with churn (${churn.connections} connections, ${churn.connections * 2} sockets, replaced before each of ${churn.ticks} ticks; ${churn.openedPerTick.toFixed(0)} sockets opened per tick): ` +
          `CPU ${churn.tickCpuMs.toFixed(1)} ms (${fmtX(ssCpu ? churn.tickCpuMs / 1000 / ssCpu : null)} ss -tunap), wall ${churn.tickWallMs.toFixed(1)} ms; store grows ${churn.bytesPerTick.toFixed(0)} bytes per tick`,
      );
    }
    const v = intervalTick.verify;
    // Informational: what `report` pays first, on the store those ticks wrote.
    if (v) log(`verify-store of that store (${v.records} records, ${v.snapshots} snapshots, ${v.items} items): ${(v.ms / 1000).toFixed(2)} s`);
  }
  if (onceAfterChange) {
    // Informational (no target): the realistic case of a capture before and after a change window.
    const c = onceAfterChange;
    log(
      `evidence capture after change: netmon --once with ${c.connections} connections (${c.connections * 2} sockets) replaced since the previous capture, ${c.openedPerRun.toFixed(0)} sockets opened per run: ` +
        `${fmtS(c.onceS)} s${c.peerS === null ? '' : ` = ${fmtX(c.onceS / c.peerS)} the psutil peer run beside it (${fmtS(c.peerS)} s)`}, peak ${fmtMiB(c.peakKiB)} MiB`,
    );
  }
  if (many) {
    log(
      `many processes (information): ${many.processes} sleep processes with a listener each (${many.netmonSockets} sockets, ${many.netmonAttributed} attributed): ` +
        `netmon snapshot ${fmtS(many.netmonS)} s = ${fmtX(many.peerS ? many.netmonS / many.peerS : null)} the psutil peer (${fmtS(many.peerS)} s), ${fmtX(many.netmonS / many.ssS)} ss -tunap (${fmtS(many.ssS)} s); ` +
        `unchanged interval tick CPU ${many.tickCpuMs.toFixed(0)} ms = ${fmtX(many.ssCpuS ? many.tickCpuMs / 1000 / many.ssCpuS : null)} ss -tunap CPU (${many.ssCpuS === null ? 'n/a' : (many.ssCpuS * 1000).toFixed(0)} ms)`,
    );
  }
  const diffVsOnce = ratio('netmonDiff', 'netmonOnce');
  log(`change detection: netmon diff ${fmtS(wall('netmonDiff'))} s = ${fmtX(diffVsOnce)} netmon --once`);
  const reportVsOnce = ratio('netmonReport', 'netmonOnce');
  const reportPdfMiB = reportPdfBytes === null ? null : reportPdfBytes / 1048576;
  log(`evidence pack: netmon report ${fmtS(wall('netmonReport'))} s = ${fmtX(reportVsOnce)} netmon --once; report.pdf ${reportPdfMiB === null ? 'n/a' : `${reportPdfMiB.toFixed(2)} MiB`}`);
  targets.push(
    { name: `netmon report <= ${TARGETS.reportVsOnce}x netmon --once`, value: reportVsOnce, result: verdict(reportVsOnce === null ? null : reportVsOnce <= TARGETS.reportVsOnce) },
    { name: `report.pdf < ${TARGETS.reportPdfMiB} MB at this population`, value: reportPdfMiB, mib: true, result: verdict(reportPdfMiB === null ? null : reportPdfBytes < TARGETS.reportPdfMiB * 1e6) },
    { name: `netmon diff <= ${TARGETS.diffVsOnce}x netmon --once`, value: diffVsOnce, result: verdict(diffVsOnce === null ? null : diffVsOnce <= TARGETS.diffVsOnce) },
    { name: `netmon --once <= ${TARGETS.onceVsPeer.toFixed(1)}x psutil peer`, value: onceVsPeer, result: verdict(onceVsPeer === null ? null : onceVsPeer <= TARGETS.onceVsPeer) },
    { name: `interval tick CPU <= ${TARGETS.tickCpuVsSs}x ss -tunap CPU`, value: tickCpuVsSs, result: verdict(tickCpuVsSs === null ? null : tickCpuVsSs <= TARGETS.tickCpuVsSs) },
    {
      name: `store bytes per unchanged tick < ${TARGETS.bytesPerTick}`,
      value: intervalTick?.bytesPerTick ?? null,
      bytes: true,
      result: verdict(intervalTick ? intervalTick.bytesPerTick < TARGETS.bytesPerTick : null),
    },
  );
  log('');
  log('targets:');
  for (const t of targets) {
    const shown = t.value === null ? 'n/a' : t.bytes ? `${t.value.toFixed(0)} bytes` : t.mib ? `${t.value.toFixed(2)} MiB` : t.name.includes('MiB') ? `${t.value.toFixed(1)} MiB` : fmtX(t.value);
    log(`  ${pad(t.result, 5)} ${pad(t.name, 40)} (${shown})`);
  }

  const document = {
    benchmark: 'netmon',
    finishedAt: new Date().toISOString(),
    machine: host,
    memoryMethod: memory.describe,
    memoryExact: memory.exact,
    peer: peer.ok ? { psutil: peer.psutilVersion, python: peer.pythonVersion } : { skipped: peer.reason },
    population: {
      requested: total,
      opened: counts.population,
      helpers: plan.helpers,
      perHelperMax: plan.capacity,
      fdSoftLimit: Number.isFinite(fdLimit) ? fdLimit : 'unlimited',
      listeners: plan.listeners,
      establishedPairs: plan.pairs,
      udp: plan.udp,
      socketsBefore: baseline,
      timeWaitBefore,
      timeWaitAfter,
    },
    counts,
    runs,
    results,
    ratios,
    pairedRatios,
    hashingCostS,
    nodeExtraCaCerts: extraCa === undefined ? null : { path: extraCa, ...startupCost },
    loadAverage1m: { start: loadBefore, end: loadAfter },
    netmonHashPeakKiB: hashPeak,
    intervalTick,
    onceAfterChange,
    manyProcesses: many,
    targets,
  };
  writeFileSync(outPath, `${JSON.stringify(document, null, 2)}\n`);
  log('');
  log(`results written to ${outPath}`);
}

/**
 * `netmon --once` `runs` times into a store of its own, after replacing `churn` loopback connections
 * of this process before each run (reset, so no TIME_WAIT is left), so that every capture has
 * sockets that opened and closed since the previous one. With the peer, each capture is followed
 * by a peer run, so the two are measured under the same conditions. Returns medians.
 */
async function onceWithChurn(memory, churn, runs, withPeer, env) {
  const server = createServer((s) => s.on('error', () => {}));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const open = (n) =>
    Promise.all(
      Array.from({ length: n }, async () => {
        const c = createConnection({ host: '127.0.0.1', port });
        c.on('error', () => {});
        await once(c, 'connect');
        return c;
      }),
    );
  const db = join(scratch, 'after-change.db');
  const args = [CLI, '--once', '--db', db, '--csv', join(scratch, 'after-change.csv')];
  let clients = await open(churn);
  try {
    // Warm-up: the store's first (full) capture and its hash cache.
    const first = await measure(memory, process.execPath, args, { env });
    if (first.exitCode !== 0) throw new Error(`netmon --once (after change) exited with status ${first.exitCode}: ${first.stderr.trim().slice(-2000)}`);
    const once_ = [];
    const peers = [];
    const peaks = [];
    let opened = 0;
    for (let i = 0; i < runs; i++) {
      if (interrupted) throw new Error('interrupted');
      for (const c of clients) c.resetAndDestroy();
      clients = await open(churn);
      const res = await measure(memory, process.execPath, args, { env });
      if (res.exitCode !== 0) throw new Error(`netmon --once (after change) exited with status ${res.exitCode}: ${res.stderr.trim().slice(-2000)}`);
      once_.push(res.wallS);
      if (res.peakKiB !== null) peaks.push(res.peakKiB);
      if (withPeer) {
        const p = await measure(memory, SYSTEM_PYTHON, [PEER, join(scratch, 'after-change-peer.csv')], { env });
        if (p.exitCode === 0) peers.push(p.wallS);
      }
    }
    // What the captures saw: sockets in each snapshot that the one before it did not have.
    const { EvidenceStore } = await import('../dist/store/evidence-store.js');
    const store = EvidenceStore.open(db, { readonly: true });
    try {
      const ids = store.listSnapshots().map((x) => x.id);
      let before = new Set(store.loadSnapshot(ids[0]).sockets.map((x) => x.inode));
      for (const id of ids.slice(1)) {
        const now = store.loadSnapshot(id).sockets.map((x) => x.inode);
        opened += now.filter((inode) => !before.has(inode)).length;
        before = new Set(now);
      }
    } finally {
      store.close();
    }
    return { connections: churn, runs, openedPerRun: opened / runs, onceS: median(once_), peerS: peers.length ? median(peers) : null, peakKiB: peaks.length ? Math.max(...peaks) : null, samples: once_ };
  } finally {
    for (const c of clients) c.resetAndDestroy();
    server.close();
  }
}

/**
 * The many-processes population: `count` sleep processes with a listener each. Times netmon's
 * snapshot, ss and the peer (`runs` rounds, order rotated, after one warm-up each), and the CPU
 * time of unchanged interval ticks. Returns medians.
 */
async function manyProcessesRun(count, memory, runs, withPeer, env) {
  log(`  many processes: starting ${count} sleep processes, each holding one TCP listener on 127.0.0.1 ...`);
  const started = Date.now();
  manyProcesses = await startManyProcesses(count, { isInterrupted: () => interrupted, onStarting: (handle) => (manyProcesses = handle) });
  log(`  many processes ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  scratch = mkdtempSync(join(os.tmpdir(), 'netmon-bench-many-'));
  try {
    const commands = [
      { key: 'netmon', cmd: process.execPath, args: [CLI, 'snapshot', '--no-hash-binaries', '--output', 'json'] },
      { key: 'ss', cmd: 'ss', args: ['-tunap'] },
      ...(withPeer ? [{ key: 'peer', cmd: SYSTEM_PYTHON, args: [PEER, join(scratch, 'many-peer.csv')] }] : []),
    ];
    const samples = Object.fromEntries(commands.map((c) => [c.key, []]));
    const snapFile = join(scratch, 'many.json');
    for (const c of commands) {
      const res = await measure(memory, c.cmd, c.args, { env, ...(c.key === 'netmon' ? { stdoutPath: snapFile } : {}) });
      if (res.exitCode !== 0) throw new Error(`${c.cmd} (many processes) exited with status ${res.exitCode}: ${res.stderr.trim().slice(-2000)}`);
    }
    const doc = JSON.parse(readFileSync(snapFile, 'utf8'));
    for (let round = 0; round < runs; round++) {
      for (const c of commands.map((_, i) => commands[(i + round) % commands.length])) {
        if (interrupted) throw new Error('interrupted');
        const res = await measure(memory, c.cmd, c.args, { env });
        if (res.exitCode !== 0) throw new Error(`${c.cmd} (many processes) exited with status ${res.exitCode}: ${res.stderr.trim().slice(-2000)}`);
        samples[c.key].push(res);
      }
    }
    log(`  many processes: ${runs} runs each; interval ticks ...`);
    const tick = spawnSync(process.execPath, [join(BENCH_DIR, 'interval-tick.mjs'), scratch, '5', '0'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env });
    if (tick.status !== 0) throw new Error(`bench/interval-tick.mjs (many processes) failed: ${tick.stderr.trim().slice(-2000)}`);
    const wall = (key) => (samples[key]?.length ? median(samples[key].map((r) => r.wallS)) : null);
    const ssCpu = samples.ss.map((r) => r.cpuS).filter((x) => x !== null);
    return {
      processes: count,
      runs,
      netmonSockets: doc.coverage?.total ?? null,
      netmonAttributed: doc.coverage?.attributed ?? null,
      netmonS: wall('netmon'),
      ssS: wall('ss'),
      peerS: wall('peer'),
      ssCpuS: ssCpu.length ? median(ssCpu) : null,
      tickCpuMs: JSON.parse(tick.stdout.trim().split('\n').pop()).tickCpuMs,
    };
  } finally {
    await manyProcesses.stop();
    manyProcesses = null;
    removeScratch();
  }
}

function populationLine(counts, plan) {
  return `${counts.population} sockets opened by ${plan.helpers} helper(s) (${plan.listeners} TCP listeners, ${plan.pairs} established pairs = ${2 * plan.pairs} sockets, ${plan.udp} UDP), on 127.0.0.1 and ::1`;
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench: harness error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.NETMON_BENCH_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    population?.killNow();
    process.exit(1);
  },
);
