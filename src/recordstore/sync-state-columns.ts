import type { SyncStatePatch, SyncStateRow, SyncStatus } from './record-store.js';

type Row = Record<string, unknown>;

/** sync_state's columns for a patch, in one order both engines use: [column, value]. */
export function syncStateColumns(patch: SyncStatePatch): Array<[string, unknown]> {
  const columns: Array<[string, unknown]> = [];
  const add = (column: string, value: unknown) => { if (value !== undefined) columns.push([column, value]); };
  add('provider', patch.provider);
  add('enabled', patch.enabled);
  add('cursor', patch.cursor);
  add('state_version', patch.stateVersion);
  add('status', patch.status);
  add('error', patch.error);
  add('processed', patch.processed);
  add('last_run_at', patch.lastRunAt);
  add('started_at', patch.startedAt);
  add('finished_at', patch.finishedAt);
  if (patch.counts) {
    add('read_count', patch.counts.read);
    add('written_count', patch.counts.written);
    add('unchanged_count', patch.counts.unchanged);
    add('stale_count', patch.counts.stale);
  }
  return columns;
}

/** A row of either engine (SQLite: text times and 0/1; PostgreSQL: Date and boolean). */
export function toSyncState(row: Row): SyncStateRow {
  const time = (value: unknown) => (value === null || value === undefined ? null : value instanceof Date ? value.toISOString() : String(value));
  return {
    name: String(row.name),
    provider: row.provider === null || row.provider === undefined ? null : String(row.provider),
    enabled: row.enabled === true || Number(row.enabled) === 1,
    cursor: row.cursor === null || row.cursor === undefined ? null : String(row.cursor),
    stateVersion: Number(row.state_version),
    status: (row.status ?? null) as SyncStatus | null,
    error: row.error === null || row.error === undefined ? null : String(row.error),
    processed: Number(row.processed),
    lastRunAt: time(row.last_run_at),
    startedAt: time(row.started_at),
    finishedAt: time(row.finished_at),
    counts: { read: Number(row.read_count), written: Number(row.written_count), unchanged: Number(row.unchanged_count), stale: Number(row.stale_count) },
  };
}
