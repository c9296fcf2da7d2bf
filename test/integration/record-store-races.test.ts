import { afterEach, describe, expect, it } from 'vitest';
import type { RecordWrite } from '../../src/recordstore/record-store.js';
import { openStorePair, waitsOnLock } from '../support/store-pair.js';

/**
 * Issue 7, defect 10 (first item): two writers insert the same new record at once on a shared PostgreSQL.
 * `SELECT … FOR UPDATE` cannot lock a row that does not exist yet, so both plan an insert; the loser must
 * be judged against the winner's row, never report `written` and queue an event for a version it never stored.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const user = (id: string, version: string, name: string): RecordWrite => ({
  type: 'user', id, version, op: 'upsert', data: { name }, outboxMessage: JSON.stringify({ type: 'user', op: 'upsert', id, version, data: { name } }),
});

const openPair = () => openStorePair(cleanups, 'race');

/** Holds `first`'s insert uncommitted until `second`'s write waits on it, then commits. */
async function race(newer: RecordWrite, older: RecordWrite) {
  const { first, second, secondApp, admin } = await openPair();
  let secondWrite: Promise<string[]> | undefined;
  await first.transaction(async (tx) => {
    expect(await tx.writeBatch([newer])).toEqual(['written']);
    secondWrite = second.writeBatch([older]);
    await waitsOnLock(admin, secondApp, 'the second writer to wait on the first one\'s insert');
  });
  const outcome = await secondWrite!;
  const pending = await first.pendingOutbox(100);
  return { outcome, stored: await first.get('user', newer.id), events: pending.map((row) => JSON.parse(row.message.toString('utf8'))) };
}

describe('record store on postgres: first-insert races', () => {
  it('the loser with an older version is stale and queues no event', async () => {
    const { outcome, stored, events } = await race(user('u1', '2026-11-22T10:00:02.000Z', 'newer'), user('u1', '2026-11-22T10:00:01.000Z', 'older'));
    expect(outcome).toEqual(['stale']);
    expect(stored).toMatchObject({ version: '2026-11-22T10:00:02.000Z', data: { name: 'newer' } });
    expect(events.map((event) => event.version)).toEqual(['2026-11-22T10:00:02.000Z']);
  });

  it('the loser with the same version and content is unchanged and queues no event', async () => {
    const { outcome, events } = await race(user('u2', '2026-11-22T10:00:02.000Z', 'same'), user('u2', '2026-11-22T10:00:02.000Z', 'same'));
    expect(outcome).toEqual(['unchanged']);
    expect(events).toHaveLength(1);
  });

  it('the loser with a newer version is written over the winner, with its event', async () => {
    const { outcome, stored, events } = await race(user('u3', '2026-11-22T10:00:01.000Z', 'older'), user('u3', '2026-11-22T10:00:02.000Z', 'newer'));
    expect(outcome).toEqual(['written']);
    expect(stored).toMatchObject({ version: '2026-11-22T10:00:02.000Z', data: { name: 'newer' } });
    expect(events.map((event) => event.data.name)).toEqual(['older', 'newer']);
  });
});
