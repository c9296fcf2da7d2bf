import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrations } from '../../src/recordstore/migrations.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { createPgSchema } from '../support/services.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/**
 * A store written by an older release: only migrations 1 and 2 applied (their SQL as released, recorded in
 * schema_migrations as that release did), holding a record, an outbox event, a sync and a run. The current
 * binary must bring it up to date on first use and keep every row.
 */
const oldMigrations = migrations.filter((migration) => migration.version <= 2);
const oldRecord = { name: 'ООО «Старый»', inn: '7707083893' };

async function sqliteStoreAtVersion2(dir: string): Promise<string> {
  const file = path.join(dir, 'old.db');
  const db = new Database(file);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const migration of oldMigrations) {
    db.exec(migration.sqlite);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, '2025-01-01T00:00:00.000Z');
  }
  db.prepare("INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at, meta) VALUES ('user', 'old-1', '2025-01-01T00:00:00.000Z', 't:2025-01-01T00:00:00.000Z', 'h', ?, 0, '2025-01-01T00:00:00.000Z', ?)")
    .run(JSON.stringify(oldRecord), JSON.stringify({ pieceVersions: { catalog: '2025-01-01T00:00:00.000Z' } }));
  db.prepare("INSERT INTO outbox (type, id, message, created_at) VALUES ('user', 'old-1', 'pending-event', '2025-01-01T00:00:00.000Z')").run();
  db.prepare("INSERT INTO sync_state (name, enabled, cursor, processed) VALUES ('rates', 0, '2025-01-01', 7)").run();
  db.prepare("INSERT INTO runs (command, started_at, finished_at, status, counts) VALUES ('user', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', 'ok', '{\"read\":1}')").run();
  db.close();
  return `sqlite:${file}`;
}

async function postgresStoreAtVersion2(): Promise<string> {
  const schema = await createPgSchema();
  cleanups.push(schema.drop);
  const client = new pg.Client(schema.url);
  await client.connect();
  try {
    await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    for (const migration of oldMigrations) {
      await client.query(migration.postgres);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    await client.query("INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at, meta) VALUES ('user', 'old-1', '2025-01-01T00:00:00.000Z', 't:2025-01-01T00:00:00.000Z', 'h', $1, false, now(), $2)",
      [JSON.stringify(oldRecord), JSON.stringify({ pieceVersions: { catalog: '2025-01-01T00:00:00.000Z' } })]);
    await client.query("INSERT INTO outbox (type, id, message) VALUES ('user', 'old-1', 'pending-event')");
    await client.query("INSERT INTO sync_state (name, enabled, cursor, processed) VALUES ('rates', false, '2025-01-01', 7)");
    await client.query("INSERT INTO runs (command, started_at, finished_at, status, counts) VALUES ('user', now(), now(), 'ok', '{\"read\":1}')");
  } finally {
    await client.end();
  }
  return schema.url;
}

/** What the migrated store holds, read with plain SQL beside the binary. */
async function readBack(url: string): Promise<{ versions: number[]; outbox: string[]; sync: Record<string, unknown>; runs: number; outboxIndex: boolean }> {
  if (url.startsWith('sqlite:')) {
    const db = new Database(url.slice('sqlite:'.length), { readonly: true });
    try {
      const sync = db.prepare("SELECT name, enabled, cursor, processed, provider, read_count FROM sync_state WHERE name = 'rates'").get() as Record<string, unknown>;
      return {
        versions: (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((row) => row.version),
        outbox: (db.prepare('SELECT message FROM outbox WHERE published_at IS NULL').all() as Array<{ message: string }>).map((row) => String(row.message)),
        sync: { ...sync, enabled: Boolean(sync.enabled) },
        runs: (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n,
        outboxIndex: Boolean(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'outbox_published'").get()),
      };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client(url);
  await client.connect();
  try {
    const sync = (await client.query("SELECT name, enabled, cursor, processed::int AS processed, provider, read_count::int AS read_count FROM sync_state WHERE name = 'rates'")).rows[0];
    return {
      versions: (await client.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((row) => Number(row.version)),
      outbox: (await client.query('SELECT message FROM outbox WHERE published_at IS NULL')).rows.map((row) => String(row.message)),
      sync,
      runs: Number((await client.query('SELECT count(*) AS n FROM runs')).rows[0].n),
      outboxIndex: (await client.query("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'outbox_published'")).rowCount === 1,
    };
  } finally {
    await client.end();
  }
}

describe.each(['sqlite', 'postgres'] as const)('a record store of an older schema version on %s', (engine) => {
  it('is migrated on first use by the current binary, and keeps its records, events, syncs and runs', async () => {
    const work = tempWorkdir();
    cleanups.push(work.remove);
    const url = engine === 'sqlite' ? await sqliteStoreAtVersion2(work.dir) : await postgresStoreAtVersion2();
    const env = { EXCHANGE_RECORD_STORE: url, EXCHANGE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' };
    const got = await runCli(['records', 'get', 'user', 'old-1', '--json'], { cwd: work.dir, env });
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: 'old-1', version: '2025-01-01T00:00:00.000Z', deleted: false, data: oldRecord });
    const after = await readBack(url);
    // Every migration the binary knows is recorded once, in order, after the two the old release applied.
    expect(after.versions).toEqual(migrations.map((migration) => migration.version));
    expect(after.versions.slice(0, 3)).toEqual([1, 2, 3]);
    // Migration 3's index and migration 4's columns exist; the old rows are all there, with the new columns' defaults.
    expect(after.outboxIndex).toBe(true);
    expect(after.sync).toEqual({ name: 'rates', enabled: false, cursor: '2025-01-01', processed: 7, provider: null, read_count: 0 });
    expect(after.outbox).toEqual(['pending-event']);
    expect(after.runs).toBe(1);
    // A second use finds nothing left to do and changes nothing.
    expect((await runCli(['records', 'count', 'user'], { cwd: work.dir, env })).stdout.trim()).toBe('1');
    expect((await readBack(url)).versions).toEqual(after.versions);
    if (engine === 'sqlite') expect(fs.existsSync(url.slice('sqlite:'.length))).toBe(true);
  });
});
