import { afterEach, describe, expect, it } from 'vitest';
import type { RecordWrite } from '../../src/recordstore/record-store.js';
import { openStorePair, waitsOnLock } from '../support/store-pair.js';

/**
 * A drain's batch on PostgreSQL (no change events, each record once) is written by one statement (issue 11,
 * item 4). The guarantees of the locking path hold for it too: the first-insert race is told apart, the version
 * guard and the unchanged check decide, and the stored rows of the batch are locked while it writes.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const user = (id: string, version: string, name: string): RecordWrite => ({ type: 'user', id, version, op: 'upsert', data: { name } });

const openPair = () => openStorePair(cleanups, 'one');


/** `first` inserts `winner` and holds it uncommitted until `second`'s one-statement batch waits on it. */
async function race(winner: RecordWrite, loser: RecordWrite) {
  const { first, second, secondApp, admin } = await openPair();
  let secondWrite: Promise<string[]> | undefined;
  await first.transaction(async (tx) => {
    expect(await tx.writeBatch([winner])).toEqual(['written']);
    secondWrite = second.writeBatch([user('other', '1', 'x'), loser]);
    await waitsOnLock(admin, secondApp);
  });
  return { outcome: await secondWrite!, stored: await first.get('user', winner.id), other: await first.get('user', 'other') };
}

describe('record store on postgres: a drain batch in one statement', () => {
  it('plans stale, unchanged and written against the stored rows, and writes only the newer', async () => {
    const { first } = await openPair();
    expect(await first.writeBatch([user('a', '2', 'a2'), user('b', '2', 'b2'), user('c', '2', 'c2')])).toEqual(['written', 'written', 'written']);
    expect(await first.writeBatch([user('a', '1', 'a1'), user('b', '2', 'b2'), user('c', '3', 'c3'), user('d', '1', 'd1')]))
      .toEqual(['stale', 'unchanged', 'written', 'written']);
    expect(await first.writeBatch([user('b', '3', 'b2')])).toEqual(['unchanged']);
    expect(await first.get('user', 'a')).toMatchObject({ version: '2', data: { name: 'a2' } });
    expect(await first.get('user', 'b')).toMatchObject({ version: '3', data: { name: 'b2' } });
    expect(await first.get('user', 'c')).toMatchObject({ version: '3', data: { name: 'c3' } });
    expect(await first.count('user')).toBe(4);
  });

  it('the loser of a first-insert race with an older version is stale; the rest of its batch is written', async () => {
    const { outcome, stored, other } = await race(user('u1', '2026-11-22T10:00:02.000Z', 'newer'), user('u1', '2026-11-22T10:00:01.000Z', 'older'));
    expect(outcome).toEqual(['written', 'stale']);
    expect(stored).toMatchObject({ version: '2026-11-22T10:00:02.000Z', data: { name: 'newer' } });
    expect(other).toMatchObject({ version: '1' });
  });

  it('the loser with the same version and content is unchanged', async () => {
    const { outcome } = await race(user('u2', '2026-11-22T10:00:02.000Z', 'same'), user('u2', '2026-11-22T10:00:02.000Z', 'same'));
    expect(outcome).toEqual(['written', 'unchanged']);
  });

  it('the loser with a newer version is written over the winner', async () => {
    const { outcome, stored } = await race(user('u3', '2026-11-22T10:00:01.000Z', 'older'), user('u3', '2026-11-22T10:00:02.000Z', 'newer'));
    expect(outcome).toEqual(['written', 'written']);
    expect(stored).toMatchObject({ version: '2026-11-22T10:00:02.000Z', data: { name: 'newer' } });
  });

  it('locks the stored rows of its batch: a writer holding one makes it wait, and it then sees that writer\'s row', async () => {
    const { first, second, secondApp, admin } = await openPair();
    await first.writeBatch([user('k', '1', 'k1')]);
    let secondWrite: Promise<string[]> | undefined;
    await first.transaction(async (tx) => {
      expect(await tx.writeBatch([user('k', '3', 'k3')])).toEqual(['written']);
      secondWrite = second.writeBatch([user('k', '2', 'k2')]);
      await waitsOnLock(admin, secondApp);
    });
    expect(await secondWrite!).toEqual(['stale']);
    expect(await first.get('user', 'k')).toMatchObject({ version: '3', data: { name: 'k3' } });
  });
});
