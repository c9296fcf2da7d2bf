import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load-config.js';
import { JobContext } from '../../src/jobs/job-context.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';

/*
 * Defect 7: acked must be durable on SQLite. In WAL mode synchronous=NORMAL may lose the last commits on
 * power loss, after the drain acked their messages; FULL (2) is the default, NORMAL (1) an explicit choice.
 * PRAGMA synchronous belongs to the connection, so it is read back on the store's own connection.
 */
const dirs: string[] = [];
const stores: RecordStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-sync-'));
  dirs.push(dir);
  return dir;
}

function synchronousOf(store: RecordStore): number {
  const db = (store as unknown as { db: Database.Database }).db;
  return db.pragma('synchronous', { simple: true }) as number;
}

describe('SQLite synchronous', () => {
  it('is FULL (2) with the default configuration, NORMAL (1) when recordStore.sqliteSynchronous says normal', async () => {
    const defaults = parseConfig({}).recordStore;
    expect(defaults.sqliteSynchronous).toBe('full');
    const full = await openRecordStore(`sqlite:${path.join(tempDir(), 'full.db')}`, { sqliteSynchronous: defaults.sqliteSynchronous });
    stores.push(full);
    expect(synchronousOf(full)).toBe(2);
    const normal = await openRecordStore(`sqlite:${path.join(tempDir(), 'normal.db')}`, { sqliteSynchronous: 'normal' });
    stores.push(normal);
    expect(synchronousOf(normal)).toBe(1);
  });

  it('reaches the store a job opens from the config file', async () => {
    for (const [setting, expected] of [[undefined, 2], ['full', 2], ['normal', 1]] as const) {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, '.exchangerc.json'), JSON.stringify({ recordStore: { url: 'sqlite:./store.db', ...(setting ? { sqliteSynchronous: setting } : {}) } }));
      const context = new JobContext(await loadConfig({ cwd: dir, env: {} }), silentReporter);
      try {
        expect(synchronousOf(await context.recordStore())).toBe(expected);
      } finally {
        await context.close();
      }
    }
  });

  it('refuses any other value, naming the key', () => {
    expect(() => parseConfig({ recordStore: { sqliteSynchronous: 'off' } })).toThrow(/invalid configuration/);
    try {
      parseConfig({ recordStore: { sqliteSynchronous: 'off' } });
    } catch (error) {
      expect((error as { details: string[] }).details[0]).toMatch(/^recordStore\.sqliteSynchronous: /);
    }
  });
});
