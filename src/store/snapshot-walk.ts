import type { ProcessRecord, Snapshot, SocketRecord } from '../model/types.js';
import { compareSockets } from '../snapshot/create-snapshot.js';
import { itemDigest, SortedDigests } from './chain.js';

/**
 * Stored snapshots read in order of their ids at the cost of their changes: the item set is
 * followed from one snapshot to the next (a base set, then each snapshot's events), as
 * verify-store follows it, instead of being built again from the last checkpoint for every
 * snapshot. A reader of a long trail (verify-trail) needs each snapshot's rows and the changes
 * against the snapshot before it; loading each one whole cost the set's size per snapshot, twice.
 *
 * Every set reached is checked as loadSnapshot() checks one: each item entering it is hashed from
 * its stored body, and the digests of the set must give the set digest the snapshot's record
 * holds, the record being checked where it stands. Memory is that of one set.
 */

/** What the walk reads from the store (EvidenceStore.walk() supplies it, inside one read transaction). */
export interface WalkSource {
  /** The record of snapshot `id`, checked where it stands (throws when it is not a snapshot or was changed). */
  record(id: number): { setDigest: string; takenAt: string; label: string | null; change: string | null };
  /** The snapshot whose full set `id`'s set is built on (its last checkpoint, or the first kept by a prune). */
  baseOf(id: number): number;
  /** The base set's rows: item id, kind, stored digest, body (kind and body null when the item row is missing). */
  baseItems(base: number): Iterable<[number, string | null, string | null, string | null]>;
  /** The events after snapshot `from` up to `to`, in snapshot order: item id, op (1 adds, -1 removes), and for additions kind, stored digest, body. */
  events(from: number, to: number): Iterable<[number, number, string | null, string | null, string | null]>;
  /** A stored body parsed (throws the store's error for text netmon did not write). */
  parse(kind: string, body: string, what: () => string): unknown;
  /** The store's error for content changed outside netmon. */
  changed(code: string, problem: string): Error;
  /** The store's error for an item a set names that is missing. */
  missing(problem: string): Error;
}

/** A snapshot as the walk holds it: what its CSV rows need. */
export interface WalkedSnapshot {
  id: number;
  takenAt: string;
  host: Snapshot['host'];
  label: string | null;
  change: string | null;
  /** Its sockets, in snapshot order: sorted when asked for, from the set the walk holds, so ask before the walk moves on. */
  sockets(): SocketRecord[];
  /** Its processes by pid. */
  processes: ReadonlyMap<number, ProcessRecord>;
}

/** What changed between two snapshots the walk reached one after the other. */
export interface WalkedChanges {
  snapshot: WalkedSnapshot;
  /** Sockets that entered and left the set, in snapshot order. */
  opened: SocketRecord[];
  closed: SocketRecord[];
  /** The processes of the snapshot before. */
  previousProcesses: ReadonlyMap<number, ProcessRecord>;
}

interface Held {
  kind: string;
  value: unknown;
  digest: string;
}

export class SnapshotWalk {
  /** The snapshot whose set is held (null before the first move). */
  private at: number | null = null;
  /** The record of the snapshot held. */
  private record: ReturnType<WalkSource['record']> | null = null;
  private readonly items = new Map<number, Held>();
  private sorted = SortedDigests.of([]);
  private readonly byPid = new Map<number, { itemId: number; process: ProcessRecord }>();
  private contextId: number | null = null;

  constructor(private readonly source: WalkSource) {}

  /** Snapshot `id`: forward from the last one reached at the cost of the changes in between, else from its base. */
  snapshot(id: number): WalkedSnapshot {
    this.moveTo(id, null);
    return this.view(id);
  }

  /** Snapshot `id` and its changes against snapshot `before` (the one the store holds before it). */
  changes(before: number, id: number): WalkedChanges {
    this.moveTo(before, null);
    const previousProcesses = this.processMap();
    const entered = new Map<number, Held>();
    const left = new Map<number, Held>();
    this.moveTo(id, { entered, left });
    const sockets = (m: Map<number, Held>): SocketRecord[] =>
      [...m.values()]
        .filter((h) => h.kind === 'socket')
        .map((h) => h.value as SocketRecord)
        .sort(compareSockets);
    return { snapshot: this.view(id), opened: sockets(entered), closed: sockets(left), previousProcesses };
  }

  private view(id: number): WalkedSnapshot {
    const record = this.record!;
    const context = this.contextId === null ? undefined : (this.items.get(this.contextId)?.value as Pick<Snapshot, 'host'> | undefined);
    if (context === undefined) throw this.source.missing(`snapshot ${id} has no context item (host, selection)`);
    const items = this.items;
    return {
      id,
      takenAt: record.takenAt,
      host: context.host,
      label: record.label,
      change: record.change,
      sockets: () => {
        const sockets: SocketRecord[] = [];
        for (const h of items.values()) if (h.kind === 'socket') sockets.push(h.value as SocketRecord);
        return sockets.sort(compareSockets);
      },
      processes: this.processMap(),
    };
  }

  private processMap(): Map<number, ProcessRecord> {
    return new Map([...this.byPid].sort((a, b) => a[0] - b[0]).map(([pid, p]) => [pid, p.process]));
  }

  /**
   * Hold the set of snapshot `id`: from its base when the walk is behind that base or past `id`,
   * then through the events up to `id`. With `track`, what entered and left on the way.
   */
  private moveTo(id: number, track: { entered: Map<number, Held>; left: Map<number, Held> } | null): void {
    if (this.at === id) return;
    try {
      this.move(id, track);
    } catch (error) {
      // The set held is no longer one the store holds: the next move starts again from a base.
      this.at = null;
      this.record = null;
      this.items.clear();
      this.byPid.clear();
      this.contextId = null;
      this.sorted = SortedDigests.of([]);
      throw error;
    }
  }

  private move(id: number, given: { entered: Map<number, Held>; left: Map<number, Held> } | null): void {
    const record = this.source.record(id);
    const base = this.source.baseOf(id);
    // The net change of the move, by item: an item may leave and enter again on the way.
    const track = given ?? { entered: new Map<number, Held>(), left: new Map<number, Held>() };
    const enter = (itemId: number, kind: string | null, stored: string | null, body: string | null): void => {
      if (kind === null || body === null) throw this.source.missing(`snapshot ${id} refers to item ${itemId}, which is missing`);
      const digest = itemDigest(kind, body);
      if (digest !== stored) throw this.source.changed('E_STORE_ITEM_CHANGED', `item ${itemId} (${kind}) of snapshot ${id} no longer matches its digest`);
      const held: Held = { kind, value: this.source.parse(kind, body, () => `item ${itemId} (${kind}), read while loading snapshot ${id},`), digest };
      this.items.set(itemId, held);
      if (kind === 'process') this.byPid.set((held.value as ProcessRecord).pid, { itemId, process: held.value as ProcessRecord });
      if (kind === 'context') this.contextId = itemId;
      if (track.left.has(itemId)) track.left.delete(itemId);
      else track.entered.set(itemId, held);
    };
    const leave = (itemId: number): void => {
      const held = this.items.get(itemId);
      if (held === undefined) throw this.source.changed('E_STORE_SET_CHANGED', `the events of the snapshots up to ${id} remove item ${itemId}, which is not in the set (rows of the events or checkpoint tables were changed)`);
      this.items.delete(itemId);
      if (held.kind === 'process') {
        const pid = (held.value as ProcessRecord).pid;
        if (this.byPid.get(pid)?.itemId === itemId) this.byPid.delete(pid);
      }
      if (this.contextId === itemId) this.contextId = null;
      if (track.entered.has(itemId)) track.entered.delete(itemId);
      else track.left.set(itemId, held);
    };
    let from = this.at;
    if (from === null || from > id || base > from) {
      // The base set, as a change of the set held: items in both stay (the same id is the same
      // row in this read), the others leave or enter.
      const baseIds = new Set<number>();
      const entering: [number, string | null, string | null, string | null][] = [];
      for (const row of this.source.baseItems(base)) {
        baseIds.add(row[0]);
        if (!this.items.has(row[0])) entering.push(row);
      }
      for (const itemId of [...this.items.keys()]) if (!baseIds.has(itemId)) leave(itemId);
      for (const [itemId, kind, stored, body] of entering) enter(itemId, kind, stored, body);
      from = base;
    }
    for (const [itemId, op, kind, stored, body] of this.source.events(from, id)) {
      if (op > 0) {
        if (this.items.has(itemId)) throw this.source.changed('E_STORE_SET_CHANGED', `the events of the snapshots up to ${id} add item ${itemId} twice (rows of the events table were changed)`);
        enter(itemId, kind, stored, body);
      } else {
        leave(itemId);
      }
    }
    let next: SortedDigests;
    try {
      next = this.sorted.with(
        [...track.left.values()].map((h) => h.digest),
        [...track.entered.values()].map((h) => h.digest),
      );
    } catch {
      throw this.source.changed('E_STORE_SET_CHANGED', `the items of snapshot ${id} are not the set its record holds (two items of one body)`);
    }
    this.sorted = next;
    this.at = id;
    this.record = record;
    if (next.digest() !== record.setDigest) {
      throw this.source.changed('E_STORE_SET_CHANGED', `the items of snapshot ${id} are not the set its record holds (rows of the events or checkpoint tables were changed)`);
    }
  }
}
