/**
 * netmon library: process-attributed network socket inventories as compliance evidence.
 * The CLI (src/cli) is a thin layer over these exports.
 */
export * from './model/types.js';
export * from './errors.js';
export { snapshot, type SnapshotOptions } from './snapshot/snapshot.js';
export { createSnapshot, computeCoverage, PRIVILEGE_HINT } from './snapshot/create-snapshot.js';
export { platformCollector, LinuxCollector, defaultLinuxDeps } from './collect/index.js';
export type { PlatformCollector, SocketScan, NamespaceScan, RawProcess, Accounts, ScanOptions, LinuxDeps } from './collect/index.js';
export { parseProcNet, PROC_NET_TABLES } from './collect/parse/proc-net.js';
export { compileFilters, socketKeys, type CompiledFilters } from './filter/compile-filters.js';
export { parseEndpointFilter, type EndpointFilter } from './filter/endpoint-filter.js';
export { compileGlob, type Glob } from './filter/glob.js';
export { hashFile, MemoryHashCache, identityKey, type HashCache } from './enrich/hash-executables.js';
export { loadBlake3, type Blake3Implementation } from './enrich/blake3.js';
export { renderText, renderCoverageLine, renderJson, renderJsonChunks, renderEcs, ECS_VERSION, ECS_EXTENSION_FIELDS, printable, isoWithOffset } from './outputs/index.js';
export { NETMON_VERSION } from './version.js';
export { diffSnapshots, DIFF_SCHEMA_VERSION, type Diff, type DiffOptions, type Change, type ChangeKind, type ListenerView, type OutboundView, type ProcessView } from './diff/diff-snapshots.js';
export { EvidenceStore, STORE_SCHEMA_VERSION, type SnapshotSummary, type VerifyResult, type GapRecord } from './store/evidence-store.js';
export { CaptureSession, captureOnce, captureEvery, type CaptureOptions, type TickResult } from './capture/capture.js';
export { verifyTrail, type TrailVerification, type TrailProblem, type VerifyTrailOptions } from './capture/verify-trail.js';
