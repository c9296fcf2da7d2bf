import Database from 'better-sqlite3';
import pg from 'pg';

export interface RunRow {
  id: number;
  command: string;
  status: string;
  finishedAt: string | null;
  counts: Record<string, number> | null;
}

export interface StoreCounts {
  /** Every row of `records` (tombstones too), so a duplicate or a stray row is never hidden. */
  records: number;
  /** Outbox events not yet confirmed by the broker. */
  outboxPending: number;
  /** The run journal, oldest first. */
  runs: RunRow[];
  /** id → version of every stored record. */
  versions: Map<string, string>;
}

/**
 * What a record store holds, read straight from its tables (not through the CLI under test), so a
 * chaos scenario can end with exact counts. `url` is `sqlite:<path>` or a `postgres://` URL (whose
 * `options=-c search_path=…` picks the test's schema).
 */
export async function storeCounts(url: string): Promise<StoreCounts> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return pgCounts(url);
  return sqliteCounts(url.replace(/^sqlite:/, ''));
}

async function pgCounts(url: string): Promise<StoreCounts> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const records = await client.query('SELECT id, version FROM records');
    const outbox = await client.query('SELECT COUNT(*)::int AS n FROM outbox WHERE published_at IS NULL');
    const runs = await client.query('SELECT id, command, status, finished_at, counts FROM runs ORDER BY id');
    return {
      records: records.rowCount ?? 0,
      outboxPending: Number(outbox.rows[0].n),
      runs: runs.rows.map((row) => ({
        id: Number(row.id), command: String(row.command), status: String(row.status),
        finishedAt: row.finished_at ? (row.finished_at as Date).toISOString() : null, counts: row.counts ?? null,
      })),
      versions: new Map(records.rows.map((row) => [String(row.id), String(row.version)])),
    };
  } finally {
    await client.end();
  }
}

function sqliteCounts(file: string): StoreCounts {
  // Another process may hold the write lock (an import mid-transaction): WAL readers do not wait for it.
  const db = new Database(file, { fileMustExist: true });
  try {
    const records = db.prepare('SELECT id, version FROM records').all() as Array<{ id: string; version: string }>;
    const outbox = db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL').get() as { n: number };
    const runs = db.prepare('SELECT id, command, status, finished_at, counts FROM runs ORDER BY id').all() as Array<Record<string, unknown>>;
    return {
      records: records.length,
      outboxPending: Number(outbox.n),
      runs: runs.map((row) => ({
        id: Number(row.id), command: String(row.command), status: String(row.status),
        finishedAt: row.finished_at ? String(row.finished_at) : null, counts: row.counts ? JSON.parse(String(row.counts)) : null,
      })),
      versions: new Map(records.map((row) => [row.id, row.version])),
    };
  } finally {
    db.close();
  }
}
