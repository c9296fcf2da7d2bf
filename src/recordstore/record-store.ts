import type { EntityType } from '../messages/entity-types.js';

/** What a caller asks the store to write: one entity version (DESIGN §7). */
export interface RecordWrite {
  type: EntityType;
  id: string;
  version: string;
  op: 'upsert' | 'delete';
  data: Record<string, unknown> | null;
  /** The change event to put in the outbox when this write changes the store (import only). */
  outboxMessage?: string;
  /** Store-only metadata (the import's per-source versions): kept with the record, not hashed, not published. */
  meta?: Record<string, unknown>;
}

export type WriteOutcome = 'written' | 'stale' | 'unchanged';

export interface StoredRecord {
  type: EntityType;
  id: string;
  version: string;
  hash: string;
  data: Record<string, unknown> | null;
  deleted: boolean;
  updatedAt: string;
  meta?: Record<string, unknown> | null;
}

export interface OutboxRow {
  seq: number;
  type: EntityType;
  id: string;
  /** The event as UTF-8 bytes, ready to publish (no string round trip on the hot path). */
  message: Buffer;
}

export interface RunRow {
  id: number;
  command: string;
  startedAt: string;
  finishedAt: string | null;
  status: string;
  counts: Record<string, number> | null;
  error: string | null;
  /** host:pid of the process (null for runs journaled before migration 5). */
  owner: string | null;
  /** Last sign of life of a run in progress (see run-journal.ts); null before migration 5. */
  heartbeatAt: string | null;
}

export interface LockRow {
  name: string;
  lockUntil: string;
  lockedAt: string;
  lockedBy: string;
}

export type SyncStatus = 'idle' | 'running' | 'error';

/** A synchronization's row in sync_state (DESIGN §7, §10); counts are the last run's. */
export interface SyncStateRow {
  name: string;
  provider: string | null;
  enabled: boolean;
  /** Where the next run starts (the provider's cursor after the last saved page); null: from the beginning. */
  cursor: string | null;
  stateVersion: number;
  status: SyncStatus | null;
  /** The last failed run's error, secrets masked; null after a run that succeeded. */
  error: string | null;
  /** Records read since the cursor was last reset. */
  processed: number;
  /** When the last run started: what the schedule counts from. */
  lastRunAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  counts: { read: number; written: number; unchanged: number; stale: number };
}

/** What an upsert of sync_state sets; absent keys keep their value (a new row takes the defaults). */
export type SyncStatePatch = Partial<Omit<SyncStateRow, 'name'>>;

export interface ListOptions {
  limit?: number;
  /** Keyset paging: ids greater than this one. */
  afterId?: string;
}

/**
 * The record store: one interface, two engines (SQLite embedded, PostgreSQL shared).
 * Writes are idempotent upserts guarded by version, so redelivery and competing consumers are safe.
 */
export interface RecordStore {
  readonly engine: 'sqlite' | 'postgres';
  /** Where it lives, secrets masked: a file path or host:port/db. */
  readonly location: string;
  migrate(): Promise<void>;
  /** One transaction for the whole batch; one outcome per write, in order. */
  writeBatch(writes: RecordWrite[]): Promise<WriteOutcome[]>;
  get(type: EntityType, id: string): Promise<StoredRecord | undefined>;
  /**
   * The stored records of these ids (absent ids are left out). `forUpdate` inside transaction(): the rows
   * stay locked until it commits, so what is merged from them cannot change before the merge is written.
   */
  getMany(type: EntityType, ids: string[], options?: { forUpdate?: boolean }): Promise<Map<string, StoredRecord>>;
  /**
   * Runs `work` in one transaction: everything it writes through the given store commits together or
   * not at all (an import whose file turns out malformed at the end leaves nothing behind).
   */
  transaction<T>(work: (store: RecordStore) => Promise<T>): Promise<T>;
  count(type: EntityType): Promise<number>;
  list(type: EntityType, options?: ListOptions): Promise<StoredRecord[]>;
  /** Unpublished rows in order; `afterSeq` pages on while earlier rows are still in flight. */
  pendingOutbox(limit: number, afterSeq?: number): Promise<OutboxRow[]>;
  markPublished(seqs: number[]): Promise<void>;
  countPendingOutbox(): Promise<number>;
  /** When the oldest unpublished event was written (ISO), null when none waits: how long a broker outage has lasted. */
  oldestPendingOutbox(): Promise<string | null>;
  /** Deletes events published before `before` (the outbox is a hand-over, not an archive); returns how many. */
  prunePublishedOutbox(before: Date): Promise<number>;
  getLinks(type: EntityType, target: string, ids: string[]): Promise<Map<string, string>>;
  /** Several targets' links read in one statement: one consistent snapshot (a writer saves them together). */
  getLinkTargets(type: EntityType, targets: string[], ids: string[]): Promise<Map<string, Map<string, string>>>;
  setLinks(type: EntityType, target: string, links: Map<string, string>): Promise<void>;
  /** ShedLock semantics: one atomic statement; true when this caller holds the lock until `untilMs` from now. */
  tryLock(name: string, forMs: number, owner: string): Promise<boolean>;
  /** Extends a held lock; false when it is no longer ours. */
  extendLock(name: string, forMs: number, owner: string): Promise<boolean>;
  unlock(name: string, owner: string): Promise<void>;
  heldLocks(): Promise<LockRow[]>;
  startRun(command: string, owner: string): Promise<number>;
  /** A running run's sign of life. */
  heartbeatRun(id: number): Promise<void>;
  finishRun(id: number, status: string, counts: Record<string, number>, error: string | null): Promise<void>;
  listRuns(limit: number): Promise<RunRow[]>;
  /** The newest run of every command however long ago it ran (`status` reports a command whose last run failed). */
  lastRunPerCommand(): Promise<RunRow[]>;
  close(): Promise<void>;
  getSyncState(name: string): Promise<SyncStateRow | undefined>;
  listSyncStates(): Promise<SyncStateRow[]>;
  /**
   * Creates or updates a sync's row. Inside transaction() it commits with the page's records and outbox
   * events: the cursor is never ahead of (or behind) what is stored.
   */
  upsertSyncState(name: string, patch: SyncStatePatch): Promise<void>;
}
