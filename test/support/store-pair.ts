import pg from 'pg';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';
import { waitFor } from './chaos.js';
import { createPgSchema, pgUrl, uniqueName } from './services.js';

/**
 * Two record stores on one fresh PostgreSQL schema, the second under its own application_name so that an admin
 * connection can see when its statement waits on a lock the first one holds. `cleanups` gets what closes them.
 */
export async function openStorePair(cleanups: Array<() => Promise<void>>, prefix: string): Promise<{ first: RecordStore; second: RecordStore; secondApp: string; admin: pg.Client }> {
  const schema = await createPgSchema();
  const secondApp = uniqueName(prefix);
  const first = await openRecordStore(schema.url);
  const second = await openRecordStore(`${schema.url}&application_name=${secondApp}`);
  const admin = new pg.Client(pgUrl);
  await admin.connect();
  cleanups.push(async () => { await first.close(); await second.close(); await admin.end(); await schema.drop(); });
  return { first, second, secondApp, admin };
}

/** Resolves once the connection named `app` waits on a lock. */
export function waitsOnLock(admin: pg.Client, app: string, what = 'the second writer to wait on the first one'): Promise<void> {
  return waitFor(what, async () =>
    (await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [app])).rowCount === 1, 10_000, 20);
}
