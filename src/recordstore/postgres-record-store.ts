import pg from 'pg';
import { ExchangeError } from '../errors.js';
import { maskUrl } from '../config/secrets.js';
import type { EntityType } from '../messages/entity-types.js';
import { migrations } from './migrations.js';
import type { ListOptions, LockRow, OutboxRow, RecordStore, RecordWrite, RunRow, StoredRecord, SyncStatePatch, SyncStateRow, WriteOutcome } from './record-store.js';
import { syncStateColumns, toSyncState } from './sync-state-columns.js';
import { groupLinks } from './group-links.js';
import { planBatch, planPrepared, prepareRows, recordKey, type ExistingRow, type PlannedRow } from './versioning.js';

type Row = Record<string, unknown>;
const retryableSqlStates = new Set(['40P01', '40001']);
/** PostgreSQL refusing connections because all slots are taken: busy, not down (DESIGN §12). */
const tooManyConnections = '53300';
const migrationLockKey = 7_305_117_001;

/**
 * The shared engine: several `exchange` processes on several machines may write at once, so the
 * batch locks its rows (in key order, to avoid deadlocks) and the upsert re-checks the version in SQL.
 */
export class PostgresRecordStore implements RecordStore {
  readonly engine = 'postgres' as const;
  readonly location: string;
  /** The pool, or, inside transaction(), the one client that holds the transaction. */
  private readonly pool: pg.Pool | pg.PoolClient;
  private readonly inTransaction: boolean;

  private constructor(pool: pg.Pool | pg.PoolClient, location: string, inTransaction = false) {
    this.pool = pool;
    this.location = location;
    this.inTransaction = inTransaction;
  }

  static async open(url: string): Promise<PostgresRecordStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 8000, idleTimeoutMillis: 10000 });
    const parsed = new URL(url);
    const location = `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
    pool.on('error', () => { /* an idle client died; the next query reports it */ });
    try {
      const client = await pool.connect();
      client.release();
    } catch (error) {
      await pool.end().catch(() => undefined);
      if ((error as { code?: string }).code === tooManyConnections) throw storeBusy(location, error);
      throw new ExchangeError('RECORD_STORE_UNAVAILABLE', `cannot connect to the record store ${maskUrl(url)} (${location}): ${(error as Error).message}`, {
        hint: 'check that PostgreSQL runs and accepts connections, or set recordStore.url / EXCHANGE_RECORD_STORE',
        cause: error,
      });
    }
    return new PostgresRecordStore(pool, location);
  }

  async migrate(): Promise<void> {
    await this.withClient(async (client) => {
      // Two processes starting together must not both run the same migration.
      await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLockKey]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const applied = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r.version)));
      for (const migration of migrations) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.postgres);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      }
    });
  }

  async writeBatch(writes: RecordWrite[]): Promise<WriteOutcome[]> {
    if (writes.length === 0) return [];
    // A drain's batch (no change events, each record once, not inside an import's transaction): one statement.
    if (!this.inTransaction && writes.every((w) => !w.outboxMessage) && new Set(writes.map((w) => recordKey(w.type, w.id))).size === writes.length) {
      return this.writeInOneStatement(writes);
    }
    return this.withClient(async (client) => {
      const keys = [...new Map(writes.map((w) => [recordKey(w.type, w.id), w])).values()];
      const found = await client.query(
        `SELECT type, id, version_key, hash FROM records
         WHERE (type, id) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY type, id FOR UPDATE`,
        [keys.map((w) => w.type), keys.map((w) => w.id)],
      );
      const existing = new Map<string, ExistingRow>();
      for (const row of found.rows as Row[]) existing.set(recordKey(String(row.type), String(row.id)), { versionKey: String(row.version_key), hash: String(row.hash) });
      const { outcomes, rows } = planBatch(writes, existing);
      if (rows.length > 0) {
        rows.sort((a, b) => (recordKey(a.write.type, a.write.id) < recordKey(b.write.type, b.write.id) ? -1 : 1));
        const upserted = await client.query(
          `INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at, meta)
           SELECT t.type, t.id, t.version, t.version_key, t.hash, t.data::jsonb, t.deleted, now(), t.meta::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[])
             AS t(type, id, version, version_key, hash, data, deleted, meta)
           ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, version_key = excluded.version_key,
             hash = excluded.hash, data = excluded.data, deleted = excluded.deleted, updated_at = excluded.updated_at,
             meta = COALESCE(excluded.meta, records.meta)
           WHERE excluded.version_key >= records.version_key
           RETURNING type, id, (xmax = 0) AS inserted`,
          [
            rows.map((r) => r.write.type), rows.map((r) => r.write.id), rows.map((r) => r.write.version),
            rows.map((r) => r.versionKey), rows.map((r) => r.hash),
            rows.map((r) => r.json), rows.map((r) => r.write.op === 'delete'),
            rows.map((r) => (r.write.meta ? JSON.stringify(r.write.meta) : null)),
          ],
        );
        // A row planned as new that another writer inserted first (FOR UPDATE cannot lock a row that does
        // not exist yet) was judged against nothing: its outcome and its event may be wrong, and a merge may
        // have missed the other writer's fields. The whole batch is planned again against what is there now.
        const inserted = new Set((upserted.rows as Row[]).filter((row) => row.inserted).map((row) => recordKey(String(row.type), String(row.id))));
        const lost = rows.filter((r) => !existing.has(recordKey(r.write.type, r.write.id)) && !inserted.has(recordKey(r.write.type, r.write.id)));
        if (lost.length > 0) throw new InsertRaceLost(lost.length);
        const events = rows.filter((r) => r.changed && r.write.outboxMessage);
        if (events.length > 0) {
          await client.query(
            'INSERT INTO outbox (type, id, message) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])',
            [events.map((r) => r.write.type), events.map((r) => r.write.id), events.map((r) => r.write.outboxMessage)],
          );
        }
      }
      return outcomes;
    });
  }

  /**
   * The same batch as the locking path below, as one statement in its own transaction: one round trip instead of
   * four (BEGIN, the locking lookup, the upsert, COMMIT). It keeps every guarantee of that path:
   * - `old` locks the stored rows of the batch in key order (FOR UPDATE) and reads them as they are now; the
   *   insert's input is sorted, so `old` is complete (every lock taken) before the first row is written;
   * - a row is written only if it is new, or newer (the version guard, in the WHERE and in ON CONFLICT again)
   *   and not the same version with the same content hash; outcomes are planned from `old` by planPrepared,
   *   exactly as the other path plans them from its lookup;
   * - a row that was not there when locked but is not inserted either (another writer inserted it first) fails
   *   the whole statement: an impossible cast names it, PostgreSQL rolls everything back, and the batch is
   *   planned again against what is there now, as InsertRaceLost does on the other path.
   * Nothing is acked before this returns, and it returns after the commit.
   */
  private async writeInOneStatement(writes: RecordWrite[]): Promise<WriteOutcome[]> {
    const prepared = prepareRows(writes);
    const params = [
      prepared.map((r) => r.write.type), prepared.map((r) => r.write.id), prepared.map((r) => r.write.version),
      prepared.map((r) => r.versionKey), prepared.map((r) => r.hash), prepared.map((r) => r.json),
      prepared.map((r) => r.write.op === 'delete'), prepared.map((r) => (r.write.meta ? JSON.stringify(r.write.meta) : null)),
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        // Named: each pooled connection parses and plans it once (a fifth of its cost per batch, measured).
        const { rows } = await (this.pool as pg.Pool).query({ name: 'exchange-write-records', text: writeInOneStatementSql, values: params });
        const existing = new Map<string, ExistingRow>();
        for (const row of rows as Row[]) {
          if (row.version_key !== null) existing.set(recordKey(String(row.type), String(row.id)), { versionKey: String(row.version_key), hash: String(row.hash) });
        }
        return planPrepared(prepared as PlannedRow[], existing).outcomes;
      } catch (error) {
        const state = (error as { code?: string }).code;
        const raceLost = state === '22P02' && String((error as Error).message).includes(insertRaceMarker);
        if (!raceLost && !(state !== undefined && retryableSqlStates.has(state))) throw error;
        if (attempt >= 5) throw storeBusy(this.location, raceLost ? new InsertRaceLost(1) : error);
      }
    }
  }

  async get(type: EntityType, id: string): Promise<StoredRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM records WHERE type = $1 AND id = $2', [type, id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async getMany(type: EntityType, ids: string[], options: { forUpdate?: boolean } = {}): Promise<Map<string, StoredRecord>> {
    // Locked in key order (as writeBatch locks), so that two merging importers never deadlock on each other's batch.
    const lock = options.forUpdate && this.inTransaction ? ' ORDER BY id FOR UPDATE' : '';
    const { rows } = await this.pool.query(`SELECT * FROM records WHERE type = $1 AND id = ANY($2::text[])${lock}`, [type, ids]);
    return new Map(rows.map((row: Row) => [String(row.id), toRecord(row)]));
  }

  /**
   * The callback is never run twice: it may consume a stream (an import reads its file as it writes), so a
   * deadlock or serialization failure rolls back and surfaces as STORE_BUSY; the caller decides whether
   * it can start over from its input (the import re-reads its file) or stops with exit 75.
   */
  async transaction<T>(work: (store: RecordStore) => Promise<T>): Promise<T> {
    if (this.inTransaction) return work(this);
    return this.withClient(async (client) => work(new PostgresRecordStore(client, this.location, true)), { retry: false });
  }

  async count(type: EntityType): Promise<number> {
    const { rows } = await this.pool.query('SELECT COUNT(*)::bigint AS n FROM records WHERE type = $1 AND NOT deleted', [type]);
    return Number(rows[0].n);
  }

  async list(type: EntityType, options: ListOptions = {}): Promise<StoredRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM records WHERE type = $1 AND id > $2 ORDER BY id LIMIT $3', [type, options.afterId ?? '', options.limit ?? 1000]);
    return rows.map(toRecord);
  }

  async pendingOutbox(limit: number, afterSeq = 0): Promise<OutboxRow[]> {
    const { rows } = await this.pool.query("SELECT seq, type, id, convert_to(message, 'UTF8') AS message FROM outbox WHERE published_at IS NULL AND seq > $2 ORDER BY seq LIMIT $1", [limit, afterSeq]);
    return rows.map((r: Row) => ({ seq: Number(r.seq), type: r.type as EntityType, id: String(r.id), message: r.message as Buffer }));
  }

  async markPublished(seqs: number[]): Promise<void> {
    if (seqs.length > 0) await this.pool.query('UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])', [seqs]);
  }

  async prunePublishedOutbox(before: Date): Promise<number> {
    const result = await this.pool.query('DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1', [before]);
    return result.rowCount ?? 0;
  }

  async countPendingOutbox(): Promise<number> {
    const { rows } = await this.pool.query('SELECT COUNT(*)::bigint AS n FROM outbox WHERE published_at IS NULL');
    return Number(rows[0].n);
  }

  async oldestPendingOutbox(): Promise<string | null> {
    const { rows } = await this.pool.query('SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1');
    return rows[0] ? (rows[0].created_at as Date).toISOString() : null;
  }

  async getLinks(type: EntityType, target: string, ids: string[]): Promise<Map<string, string>> {
    return (await this.getLinkTargets(type, [target], ids)).get(target)!;
  }

  async getLinkTargets(type: EntityType, targets: string[], ids: string[]): Promise<Map<string, Map<string, string>>> {
    const { rows } = await this.pool.query('SELECT id, target, target_id FROM links WHERE type = $1 AND target = ANY($2::text[]) AND id = ANY($3::text[])', [type, targets, ids]);
    return groupLinks(targets, rows);
  }

  async setLinks(type: EntityType, target: string, links: Map<string, string>): Promise<void> {
    if (links.size === 0) return;
    await this.pool.query(
      `INSERT INTO links (type, id, target, target_id) SELECT $1, t.id, $2, t.target_id FROM unnest($3::text[], $4::text[]) AS t(id, target_id)
       ON CONFLICT (type, id, target) DO UPDATE SET target_id = excluded.target_id`,
      [type, target, [...links.keys()], [...links.values()]],
    );
  }

  async tryLock(name: string, forMs: number, owner: string): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO locks (name, lock_until, locked_at, locked_by) VALUES ($1, now() + $2 * interval '1 millisecond', now(), $3)
       ON CONFLICT (name) DO UPDATE SET lock_until = excluded.lock_until, locked_at = excluded.locked_at, locked_by = excluded.locked_by
       WHERE locks.lock_until <= now()`,
      [name, forMs, owner],
    );
    return result.rowCount === 1;
  }

  async extendLock(name: string, forMs: number, owner: string): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE locks SET lock_until = now() + $2 * interval '1 millisecond' WHERE name = $1 AND locked_by = $3 AND lock_until > now()`,
      [name, forMs, owner],
    );
    return result.rowCount === 1;
  }

  async unlock(name: string, owner: string): Promise<void> {
    await this.pool.query('UPDATE locks SET lock_until = now() WHERE name = $1 AND locked_by = $2', [name, owner]);
  }

  async heldLocks(): Promise<LockRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM locks WHERE lock_until > now() ORDER BY name');
    return rows.map((r: Row) => ({
      name: String(r.name), lockUntil: (r.lock_until as Date).toISOString(), lockedAt: (r.locked_at as Date).toISOString(), lockedBy: String(r.locked_by),
    }));
  }

  async startRun(command: string, owner: string): Promise<number> {
    const { rows } = await this.pool.query("INSERT INTO runs (command, started_at, status, owner, heartbeat_at) VALUES ($1, now(), 'running', $2, now()) RETURNING id", [command, owner]);
    return Number(rows[0].id);
  }

  async heartbeatRun(id: number): Promise<void> {
    await this.pool.query("UPDATE runs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'", [id]);
  }

  async finishRun(id: number, status: string, counts: Record<string, number>, error: string | null): Promise<void> {
    await this.pool.query('UPDATE runs SET finished_at = now(), status = $2, counts = $3::jsonb, error = $4 WHERE id = $1', [id, status, JSON.stringify(counts), error]);
  }

  async listRuns(limit: number): Promise<RunRow[]> {
    return this.runRows((await this.pool.query('SELECT * FROM runs ORDER BY id DESC LIMIT $1', [limit])).rows);
  }

  async lastRunPerCommand(): Promise<RunRow[]> {
    return this.runRows((await this.pool.query('SELECT * FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY command) ORDER BY id DESC')).rows);
  }

  private runRows(rows: Row[]): RunRow[] {
    return rows.map((r: Row) => ({
      id: Number(r.id), command: String(r.command), startedAt: (r.started_at as Date).toISOString(),
      finishedAt: r.finished_at ? (r.finished_at as Date).toISOString() : null, status: String(r.status),
      counts: (r.counts as Record<string, number>) ?? null, error: r.error ? String(r.error) : null,
      owner: r.owner ? String(r.owner) : null, heartbeatAt: r.heartbeat_at ? (r.heartbeat_at as Date).toISOString() : null,
    }));
  }

  async close(): Promise<void> {
    if (!this.inTransaction) await (this.pool as pg.Pool).end();
  }

  async getSyncState(name: string): Promise<SyncStateRow | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM sync_state WHERE name = $1', [name]);
    return rows[0] ? toSyncState(rows[0]) : undefined;
  }

  async listSyncStates(): Promise<SyncStateRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM sync_state ORDER BY name');
    return rows.map(toSyncState);
  }

  async upsertSyncState(name: string, patch: SyncStatePatch): Promise<void> {
    const columns = syncStateColumns(patch);
    const names = columns.map(([column]) => column);
    const update = names.length > 0 ? `DO UPDATE SET ${names.map((column) => `${column} = excluded.${column}`).join(', ')}` : 'DO NOTHING';
    await this.pool.query(
      `INSERT INTO sync_state (${['name', ...names].join(', ')}) VALUES (${['$1', ...names.map((_, index) => `$${index + 2}`)].join(', ')}) ON CONFLICT (name) ${update}`,
      [name, ...columns.map(([, value]) => value)],
    );
  }

  /** A transaction on one client; inside transaction() the surrounding one serves (a savepoint would add nothing). */
  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>, options: { retry: boolean } = { retry: true }): Promise<T> {
    if (this.inTransaction) return work(this.pool as pg.PoolClient);
    for (let attempt = 1; ; attempt++) {
      const client = await (this.pool as pg.Pool).connect();
      // The pool listens for errors only on idle clients: a backend killed under a checked-out client would
      // otherwise be an unhandled 'error' event (a crash, exit 1). Its query rejects, and that is reported.
      const onError = () => undefined;
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        const state = (error as { code?: string }).code;
        const retryable = state !== undefined && retryableSqlStates.has(state);
        if (retryable && options.retry && attempt < 5) continue;
        if (retryable) throw storeBusy(this.location, error);
        throw error;
      } finally {
        client.off('error', onError);
        client.release();
      }
    }
  }
}

const insertRaceMarker = 'exchange: inserted by another writer meanwhile';

const writeInOneStatementSql = `
  WITH t AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[])
      AS t(type, id, version, version_key, hash, data, deleted, meta)
  ),
  old AS (
    SELECT r.type, r.id, r.version_key, r.hash FROM records r
    WHERE (r.type, r.id) IN (SELECT type, id FROM t) ORDER BY r.type, r.id FOR UPDATE
  ),
  up AS (
    INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at, meta)
    SELECT t.type, t.id, t.version, t.version_key, t.hash, t.data::jsonb, t.deleted, now(), t.meta::jsonb
    FROM t LEFT JOIN old ON old.type = t.type AND old.id = t.id
    WHERE old.id IS NULL OR (t.version_key COLLATE "C" >= old.version_key AND NOT (t.version_key = old.version_key AND t.hash = old.hash))
    ORDER BY t.type, t.id
    ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, version_key = excluded.version_key,
      hash = excluded.hash, data = excluded.data, deleted = excluded.deleted, updated_at = excluded.updated_at,
      meta = COALESCE(excluded.meta, records.meta)
    WHERE excluded.version_key >= records.version_key
    RETURNING type, id, (xmax = 0) AS inserted
  )
  SELECT t.type, t.id, old.version_key, old.hash,
    CASE WHEN old.id IS NULL AND up.inserted IS NOT TRUE THEN CAST('${insertRaceMarker}: ' || t.id AS integer) END AS race
  FROM t LEFT JOIN old ON old.type = t.type AND old.id = t.id LEFT JOIN up ON up.type = t.type AND up.id = t.id`;

/** Raised inside a batch that lost a first-insert race; rolled back and planned again like a serialization failure. */
class InsertRaceLost extends Error {
  readonly code = '40001';
  constructor(count: number) {
    super(`${count} record(s) of the batch were inserted by another writer meanwhile`);
  }
}

function storeBusy(location: string, cause: unknown): ExchangeError {
  return new ExchangeError('STORE_BUSY', `the record store ${location} is busy: ${(cause as Error).message}`, {
    hint: 'nothing of this transaction was kept; run again (a cron run will)',
    cause,
  });
}

function toRecord(row: Row): StoredRecord {
  return {
    type: row.type as EntityType, id: String(row.id), version: String(row.version), hash: String(row.hash),
    data: (row.data as Record<string, unknown>) ?? null, deleted: Boolean(row.deleted), updatedAt: (row.updated_at as Date).toISOString(),
    meta: (row.meta as Record<string, unknown>) ?? null,
  };
}
