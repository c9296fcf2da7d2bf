import Database from 'better-sqlite3';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import { migrations } from './migrations.js';
import type { ListOptions, LockRow, OutboxRow, RecordStore, RecordWrite, RunRow, StoredRecord, SyncStatePatch, SyncStateRow, WriteOutcome } from './record-store.js';
import { syncStateColumns, toSyncState } from './sync-state-columns.js';
import { groupLinks } from './group-links.js';
import { planBatch, prepareRows, recordKey, type ExistingRow } from './versioning.js';

type Row = Record<string, unknown>;
/** How long a write waits for another process's write lock before the run gives up with 75. */
const busyTimeoutMs = 10_000;

/** The embedded engine: one file, WAL mode, synchronous better-sqlite3 calls behind the async interface. */
export class SqliteRecordStore implements RecordStore {
  readonly engine = 'sqlite' as const;
  readonly location: string;
  private readonly db: Database.Database;

  private constructor(db: Database.Database, location: string) {
    this.db = db;
    this.location = location;
  }

  /**
   * `synchronous` FULL (the default) syncs the WAL on every commit: once the drain acks a batch, a power loss
   * or an OS crash cannot take its records back. NORMAL (config recordStore.sqliteSynchronous) syncs only at
   * checkpoints: faster, but the last commits before such a crash may be lost after their messages were acked.
   */
  static open(file: string, options: { synchronous?: 'full' | 'normal' } = {}): SqliteRecordStore {
    try {
      const db = new Database(file);
      // First: switching a new file to WAL takes the write lock, and a second process must wait for it, not fail.
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      return new SqliteRecordStore(db, file);
    } catch (error) {
      throw new ExchangeError('RECORD_STORE_UNAVAILABLE', `cannot open the record store sqlite:${file}: ${(error as Error).message}`, {
        hint: 'check that the folder exists and is writable, or set recordStore.url / EXCHANGE_RECORD_STORE',
        cause: error,
      });
    }
  }

  async migrate(): Promise<void> {
    this.busy(() => this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)'));
    const applied = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => Number(r.version)));
    const isApplied = this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      this.busy(() => this.db.transaction(() => {
        // Another process may have applied it between our read and our write lock: asked again under the lock.
        if (isApplied.get(migration.version)) return;
        this.db.exec(migration.sqlite);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, new Date().toISOString());
      }).immediate());
    }
  }

  async writeBatch(writes: RecordWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return [];
    if (writes.every((write) => write.outboxMessage === undefined && write.meta === undefined)) return this.busy(() => this.guardedBatch(writes));
    const statements = this.writeStatements();
    return this.busy(() => this.db.transaction(() => {
      const existing = new Map<string, ExistingRow>();
      // One statement per type finds every stored row of the batch.
      for (const type of new Set(writes.map((w) => w.type))) {
        const ids = JSON.stringify(writes.filter((w) => w.type === type).map((w) => w.id));
        for (const row of statements.select.all(type, ids) as Row[]) {
          existing.set(recordKey(type, String(row.id)), { versionKey: String(row.version_key), hash: String(row.hash) });
        }
      }
      const { outcomes, rows } = planBatch(writes, existing);
      const now = new Date().toISOString();
      for (const { write, versionKey, hash, json, changed } of rows) {
        statements.upsert.run(write.type, write.id, write.version, versionKey, hash, json, write.op === 'delete' ? 1 : 0, now, write.meta ? JSON.stringify(write.meta) : null);
        if (changed && write.outboxMessage) statements.outbox.run(write.type, write.id, write.outboxMessage, now);
      }
      return outcomes;
    }).immediate());
  }

  /**
   * A batch without change events or metadata (a drain's): each write is judged by SQL, in order, in one
   * transaction, instead of a lookup of the batch's stored rows and then an upsert. Almost every write is new, or
   * newer with other content, and the first statement writes it (written); the second records a newer version of
   * the same content (unchanged); only when neither changed a row does the stored version key tell stale from
   * unchanged (the same version and content). Applied one after another, a batch with an entity twice ends as
   * planBatch would leave it, with the same outcomes.
   */
  private readonly guardedBatch = (writes: RecordWrite[]): WriteOutcome[] => this.db.transaction(() => {
    const { changed, newer, storedKey } = this.guardedStatements();
    const now = new Date().toISOString();
    return prepareRows(writes).map(({ write, versionKey: key, hash, json }) => {
      const row = [write.type, write.id, write.version, key, hash, json, write.op === 'delete' ? 1 : 0, now];
      if (changed.run(row).changes === 1) return 'written';
      if (newer.run(row).changes === 1) return 'unchanged';
      return String((storedKey.get(write.type, write.id) as Row).version_key) > key ? 'stale' : 'unchanged';
    });
  }).immediate();

  private guarded?: { changed: Database.Statement; newer: Database.Statement; storedKey: Database.Statement };

  private guardedStatements() {
    const upsert = `INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, version_key = excluded.version_key, hash = excluded.hash,
        data = excluded.data, deleted = excluded.deleted, updated_at = excluded.updated_at`;
    this.guarded ??= {
      changed: this.db.prepare(`${upsert} WHERE excluded.version_key >= records.version_key AND excluded.hash <> records.hash`),
      newer: this.db.prepare(`${upsert} WHERE excluded.version_key > records.version_key`),
      storedKey: this.db.prepare('SELECT version_key FROM records WHERE type = ? AND id = ?'),
    };
    return this.guarded;
  }

  private statements?: { select: Database.Statement; upsert: Database.Statement; outbox: Database.Statement };

  /** Prepared once: preparing per batch costs more than the writes of a small batch. */
  private writeStatements() {
    this.statements ??= {
      select: this.db.prepare('SELECT id, version_key, hash FROM records WHERE type = ? AND id IN (SELECT value FROM json_each(?))'),
      upsert: this.db.prepare(`INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at, meta)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, version_key = excluded.version_key, hash = excluded.hash,
          data = excluded.data, deleted = excluded.deleted, updated_at = excluded.updated_at, meta = COALESCE(excluded.meta, records.meta)
        WHERE excluded.version_key >= records.version_key`),
      outbox: this.db.prepare('INSERT INTO outbox (type, id, message, created_at) VALUES (?, ?, ?, ?)'),
    };
    return this.statements;
  }

  async get(type: EntityType, id: string): Promise<StoredRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM records WHERE type = ? AND id = ?').get(type, id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async getMany(type: EntityType, ids: string[]): Promise<Map<string, StoredRecord>> {
    const rows = this.db.prepare('SELECT * FROM records WHERE type = ? AND id IN (SELECT value FROM json_each(?))').all(type, JSON.stringify(ids)) as Row[];
    return new Map(rows.map((row) => [String(row.id), toRecord(row)]));
  }

  /**
   * better-sqlite3 transactions are synchronous; an import awaits between batches, so this one is opened
   * and closed by hand. Nested writeBatch transactions become savepoints. The connection belongs to this
   * process alone and the job awaits one thing at a time, so nothing else interleaves.
   */
  async transaction<T>(work: (store: RecordStore) => Promise<T>): Promise<T> {
    if (this.db.inTransaction) return work(this);
    this.busy(() => this.db.exec('BEGIN IMMEDIATE'));
    try {
      const result = await work(this);
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async count(type: EntityType): Promise<number> {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM records WHERE type = ? AND deleted = 0').get(type) as Row;
    return Number(row.n);
  }

  async list(type: EntityType, options: ListOptions = {}): Promise<StoredRecord[]> {
    const rows = this.db.prepare('SELECT * FROM records WHERE type = ? AND id > ? ORDER BY id LIMIT ?')
      .all(type, options.afterId ?? '', options.limit ?? 1000) as Row[];
    return rows.map(toRecord);
  }

  async pendingOutbox(limit: number, afterSeq = 0): Promise<OutboxRow[]> {
    const rows = this.db.prepare('SELECT seq, type, id, CAST(message AS BLOB) AS message FROM outbox WHERE published_at IS NULL AND seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as Row[];
    return rows.map((r) => ({ seq: Number(r.seq), type: r.type as EntityType, id: String(r.id), message: r.message as Buffer }));
  }

  async markPublished(seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    const now = new Date().toISOString();
    // A page confirmed whole is a run of consecutive seqs: one range over the primary key instead of a JSON list.
    const contiguous = seqs.every((seq, index) => index === 0 || seq === seqs[index - 1] + 1);
    if (contiguous) {
      this.busy(() => this.db.prepare('UPDATE outbox SET published_at = ? WHERE seq BETWEEN ? AND ? AND published_at IS NULL').run(now, seqs[0], seqs[seqs.length - 1]));
      return;
    }
    this.busy(() => this.db.prepare('UPDATE outbox SET published_at = ? WHERE seq IN (SELECT value FROM json_each(?))').run(now, JSON.stringify(seqs)));
  }

  async prunePublishedOutbox(before: Date): Promise<number> {
    return this.db.prepare('DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?').run(before.toISOString()).changes;
  }

  async countPendingOutbox(): Promise<number> {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL').get() as Row).n);
  }

  async oldestPendingOutbox(): Promise<string | null> {
    const row = this.db.prepare('SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1').get() as Row | undefined;
    return row ? String(row.created_at) : null;
  }

  async getLinks(type: EntityType, target: string, ids: string[]): Promise<Map<string, string>> {
    return (await this.getLinkTargets(type, [target], ids)).get(target)!;
  }

  async getLinkTargets(type: EntityType, targets: string[], ids: string[]): Promise<Map<string, Map<string, string>>> {
    const rows = this.db.prepare(`SELECT id, target, target_id FROM links WHERE type = ?
      AND target IN (SELECT value FROM json_each(?)) AND id IN (SELECT value FROM json_each(?))`).all(type, JSON.stringify(targets), JSON.stringify(ids)) as Row[];
    return groupLinks(targets, rows);
  }

  async setLinks(type: EntityType, target: string, links: Map<string, string>): Promise<void> {
    const upsert = this.db.prepare(`INSERT INTO links (type, id, target, target_id) VALUES (?, ?, ?, ?)
      ON CONFLICT (type, id, target) DO UPDATE SET target_id = excluded.target_id`);
    this.busy(() => this.db.transaction(() => { for (const [id, targetId] of links) upsert.run(type, id, target, targetId); })());
  }

  async tryLock(name: string, forMs: number, owner: string): Promise<boolean> {
    const now = Date.now();
    const result = this.busy(() => this.db.prepare(`INSERT INTO locks (name, lock_until, locked_at, locked_by) VALUES (?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET lock_until = excluded.lock_until, locked_at = excluded.locked_at, locked_by = excluded.locked_by
      WHERE locks.lock_until <= ?`).run(name, now + forMs, now, owner, now));
    return result.changes === 1;
  }

  async extendLock(name: string, forMs: number, owner: string): Promise<boolean> {
    const now = Date.now();
    const result = this.busy(() => this.db.prepare('UPDATE locks SET lock_until = ? WHERE name = ? AND locked_by = ? AND lock_until > ?').run(now + forMs, name, owner, now));
    return result.changes === 1;
  }

  async unlock(name: string, owner: string): Promise<void> {
    this.db.prepare('UPDATE locks SET lock_until = ? WHERE name = ? AND locked_by = ?').run(Date.now(), name, owner);
  }

  async heldLocks(): Promise<LockRow[]> {
    const rows = this.db.prepare('SELECT * FROM locks WHERE lock_until > ? ORDER BY name').all(Date.now()) as Row[];
    return rows.map((r) => ({
      name: String(r.name), lockUntil: new Date(Number(r.lock_until)).toISOString(),
      lockedAt: new Date(Number(r.locked_at)).toISOString(), lockedBy: String(r.locked_by),
    }));
  }

  async startRun(command: string, owner: string): Promise<number> {
    const now = new Date().toISOString();
    const result = this.busy(() => this.db.prepare('INSERT INTO runs (command, started_at, status, owner, heartbeat_at) VALUES (?, ?, ?, ?, ?)').run(command, now, 'running', owner, now));
    return Number(result.lastInsertRowid);
  }

  async heartbeatRun(id: number): Promise<void> {
    this.busy(() => this.db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'").run(new Date().toISOString(), id));
  }

  async finishRun(id: number, status: string, counts: Record<string, number>, error: string | null): Promise<void> {
    this.busy(() => this.db.prepare('UPDATE runs SET finished_at = ?, status = ?, counts = ?, error = ? WHERE id = ?')
      .run(new Date().toISOString(), status, JSON.stringify(counts), error, id));
  }

  async listRuns(limit: number): Promise<RunRow[]> {
    return this.runRows(this.db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as Row[]);
  }

  async lastRunPerCommand(): Promise<RunRow[]> {
    return this.runRows(this.db.prepare('SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY command) ORDER BY id DESC').all() as Row[]);
  }

  private runRows(rows: Row[]): RunRow[] {
    return rows.map((r) => ({
      id: Number(r.id), command: String(r.command), startedAt: String(r.started_at),
      finishedAt: r.finished_at ? String(r.finished_at) : null, status: String(r.status),
      counts: r.counts ? JSON.parse(String(r.counts)) : null, error: r.error ? String(r.error) : null,
      owner: r.owner ? String(r.owner) : null, heartbeatAt: r.heartbeat_at ? String(r.heartbeat_at) : null,
    }));
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async getSyncState(name: string): Promise<SyncStateRow | undefined> {
    const row = this.db.prepare('SELECT * FROM sync_state WHERE name = ?').get(name) as Row | undefined;
    return row ? toSyncState(row) : undefined;
  }

  async listSyncStates(): Promise<SyncStateRow[]> {
    return (this.db.prepare('SELECT * FROM sync_state ORDER BY name').all() as Row[]).map(toSyncState);
  }

  async upsertSyncState(name: string, patch: SyncStatePatch): Promise<void> {
    const columns = syncStateColumns(patch).map(([column, value]) => [column, typeof value === 'boolean' ? (value ? 1 : 0) : value] as const);
    const names = columns.map(([column]) => column);
    const update = names.length > 0 ? `DO UPDATE SET ${names.map((column) => `${column} = excluded.${column}`).join(', ')}` : 'DO NOTHING';
    this.busy(() => this.db.prepare(`INSERT INTO sync_state (${['name', ...names].join(', ')}) VALUES (${['?', ...names.map(() => '?')].join(', ')})
      ON CONFLICT (name) ${update}`).run(name, ...columns.map(([, value]) => value)));
  }

  /**
   * SQLite's database lock is whole-file: when another process holds it past the busy timeout, no write of
   * this run can succeed, whatever the item. That is "try later" for the run (exit 75), never an item's fault.
   */
  private busy<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      const code = String((error as { code?: string }).code ?? '');
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
        throw new ExchangeError('STORE_BUSY', `the record store sqlite:${this.location} is busy: another process holds its write lock (waited ${busyTimeoutMs / 1000} s)`, {
          hint: 'nothing was acked or kept from this run; run again when the other run (an import?) is done (a cron run will)',
          cause: error,
        });
      }
      throw error;
    }
  }
}

function toRecord(row: Row): StoredRecord {
  return {
    type: row.type as EntityType, id: String(row.id), version: String(row.version), hash: String(row.hash),
    data: row.data ? JSON.parse(String(row.data)) : null, deleted: Number(row.deleted) === 1, updatedAt: String(row.updated_at),
    meta: row.meta ? JSON.parse(String(row.meta)) : null,
  };
}
