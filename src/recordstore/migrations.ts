/**
 * Versioned migrations (DESIGN §7). Each engine has its own DDL for the same tables; a migration
 * is applied once, in order, and recorded in schema_migrations. Never edit a released migration:
 * add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sqlite: `
      CREATE TABLE records (
        type TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL, version_key TEXT NOT NULL,
        hash TEXT NOT NULL, data TEXT, deleted INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
        PRIMARY KEY (type, id));
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, id TEXT NOT NULL, message TEXT NOT NULL,
        created_at TEXT NOT NULL, published_at TEXT);
      CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
      CREATE TABLE links (
        type TEXT NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL, target_id TEXT NOT NULL,
        PRIMARY KEY (type, id, target));
      CREATE TABLE sync_state (
        name TEXT PRIMARY KEY, enabled INTEGER NOT NULL DEFAULT 1, cursor TEXT, state_version INTEGER NOT NULL DEFAULT 0,
        status TEXT, error TEXT, processed INTEGER NOT NULL DEFAULT 0, last_run_at TEXT);
      CREATE TABLE locks (
        name TEXT PRIMARY KEY, lock_until INTEGER NOT NULL, locked_at INTEGER NOT NULL, locked_by TEXT NOT NULL);
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
        status TEXT NOT NULL, counts TEXT, error TEXT);`,
    postgres: `
      CREATE TABLE records (
        type TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL, version_key TEXT NOT NULL,
        hash TEXT NOT NULL, data JSONB, deleted BOOLEAN NOT NULL DEFAULT FALSE, updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (type, id));
      CREATE TABLE outbox (
        seq BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, message TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(), published_at TIMESTAMPTZ);
      CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
      CREATE TABLE links (
        type TEXT NOT NULL, id TEXT NOT NULL, target TEXT NOT NULL, target_id TEXT NOT NULL,
        PRIMARY KEY (type, id, target));
      CREATE TABLE sync_state (
        name TEXT PRIMARY KEY, enabled BOOLEAN NOT NULL DEFAULT TRUE, cursor TEXT, state_version INTEGER NOT NULL DEFAULT 0,
        status TEXT, error TEXT, processed BIGINT NOT NULL DEFAULT 0, last_run_at TIMESTAMPTZ);
      CREATE TABLE locks (
        name TEXT PRIMARY KEY, lock_until TIMESTAMPTZ NOT NULL, locked_at TIMESTAMPTZ NOT NULL, locked_by TEXT NOT NULL);
      CREATE TABLE runs (
        id BIGSERIAL PRIMARY KEY, command TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ,
        status TEXT NOT NULL, counts JSONB, error TEXT);`,
  },
  {
    version: 2,
    name: 'records.meta: store-only metadata (per-source versions), neither hashed nor published',
    sqlite: 'ALTER TABLE records ADD COLUMN meta TEXT',
    postgres: 'ALTER TABLE records ADD COLUMN meta JSONB',
  },
  {
    version: 3,
    name: 'outbox: index for pruning published events',
    sqlite: 'CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL',
    postgres: 'CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL',
  },
  {
    version: 4,
    name: 'sync_state: provider, the last run\'s counts, its start and end',
    sqlite: `
      ALTER TABLE sync_state ADD COLUMN provider TEXT;
      ALTER TABLE sync_state ADD COLUMN read_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sync_state ADD COLUMN written_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sync_state ADD COLUMN unchanged_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sync_state ADD COLUMN stale_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE sync_state ADD COLUMN started_at TEXT;
      ALTER TABLE sync_state ADD COLUMN finished_at TEXT;`,
    postgres: `
      ALTER TABLE sync_state ADD COLUMN provider TEXT,
        ADD COLUMN read_count BIGINT NOT NULL DEFAULT 0, ADD COLUMN written_count BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN unchanged_count BIGINT NOT NULL DEFAULT 0, ADD COLUMN stale_count BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN started_at TIMESTAMPTZ, ADD COLUMN finished_at TIMESTAMPTZ;`,
  },
  {
    version: 5,
    name: 'runs: the owner (host:pid) and a heartbeat, so that a run whose process died is told from one at work',
    sqlite: `
      ALTER TABLE runs ADD COLUMN owner TEXT;
      ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;`,
    postgres: 'ALTER TABLE runs ADD COLUMN owner TEXT, ADD COLUMN heartbeat_at TIMESTAMPTZ;',
  },
];
