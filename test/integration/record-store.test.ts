import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore, RecordWrite } from '../../src/recordstore/record-store.js';
import { waitFor } from '../support/chaos.js';
import { createPgSchema } from '../support/services.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/** SQL run on the store's own database beside the code under test (a trigger, a count), for the last store opened. */
let rawSql: (statement: string) => Promise<Array<Record<string, unknown>>>;

const engines: Array<[string, () => Promise<RecordStore>]> = [
  ['sqlite', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-store-'));
    const file = path.join(dir, 'store.db');
    const store = await openRecordStore(`sqlite:${file}`);
    const db = new Database(file);
    rawSql = async (statement) => (db.prepare(statement).reader ? db.prepare(statement).all() as Array<Record<string, unknown>> : (db.exec(statement), []));
    cleanups.push(async () => { db.close(); await store.close(); fs.rmSync(dir, { recursive: true, force: true }); });
    return store;
  }],
  ['postgres', async () => {
    const schema = await createPgSchema();
    const store = await openRecordStore(schema.url);
    const client = new pg.Client(schema.url);
    await client.connect();
    rawSql = async (statement) => (await client.query(statement)).rows;
    cleanups.push(async () => { await client.end(); await store.close(); await schema.drop(); });
    return store;
  }],
];

/** A trigger that refuses one id with a real server-side error, so a batch fails at a chosen item. */
const refuseId: Record<string, (id: string) => string[]> = {
  sqlite: (id) => [`CREATE TRIGGER refuse_one BEFORE INSERT ON records WHEN NEW.id = '${id}' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`],
  postgres: (id) => [
    `CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN IF NEW.id = '${id}' THEN RAISE EXCEPTION 'refused by the test trigger' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
    'CREATE TRIGGER refuse_one BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION refuse_one()',
  ],
};

const user = (id: string, version: string, name = id, outboxMessage?: string): RecordWrite =>
  ({ type: 'user', id, version, op: 'upsert', data: { name, inn: '7707083893' }, outboxMessage });

describe.each(engines)('record store on %s', (engine, open) => {
  it('migrates idempotently', async () => {
    const store = await open();
    await store.migrate();
    await store.migrate();
    expect(await store.count('user')).toBe(0);
  });

  it('upserts a batch in one transaction, refuses stale versions, skips unchanged content', async () => {
    const store = await open();
    expect(await store.writeBatch([user('a', '2026-11-22T10:00:00Z'), user('b', '2026-11-22T10:00:00Z')])).toEqual(['written', 'written']);
    expect(await store.writeBatch([
      user('a', '2026-11-21T10:00:00Z', 'older'),
      user('b', '2026-11-22T10:00:00Z'),
      user('a', '2026-11-23T10:00:00Z', 'newer'),
    ])).toEqual(['stale', 'unchanged', 'written']);
    const a = await store.get('user', 'a');
    expect(a).toMatchObject({ id: 'a', version: '2026-11-23T10:00:00Z', deleted: false, data: { name: 'newer', inn: '7707083893' } });
    expect(await store.count('user')).toBe(2);
    expect((await store.list('user', { limit: 1 })).map((r) => r.id)).toEqual(['a']);
    expect((await store.list('user', { afterId: 'a' })).map((r) => r.id)).toEqual(['b']);
  });

  it('rolls the whole batch back when its last item fails: none of its items and none of their events stay', async () => {
    const store = await open();
    for (const statement of refuseId[engine]('z-refused')) await rawSql(statement);
    await expect(store.writeBatch([user('r1', '1', 'one', 'event-r1'), user('r2', '1', 'two', 'event-r2'), user('z-refused', '1', 'bad', 'event-z')])).rejects.toThrow(/refused by the test trigger/);
    const [records] = await rawSql('SELECT count(*) AS n FROM records');
    const [outbox] = await rawSql('SELECT count(*) AS n FROM outbox');
    expect([Number(records.n), Number(outbox.n)]).toEqual([0, 0]);
    // The same batch without the refused item commits whole.
    expect(await store.writeBatch([user('r1', '1', 'one', 'event-r1'), user('r2', '1', 'two', 'event-r2')])).toEqual(['written', 'written']);
    expect((await rawSql('SELECT id FROM records ORDER BY id')).map((row) => row.id)).toEqual(['r1', 'r2']);
  });

  it('keeps deletes as tombstones so an older upsert cannot resurrect the record', async () => {
    const store = await open();
    await store.writeBatch([user('d', '2026-01-01T00:00:00Z')]);
    expect(await store.writeBatch([{ type: 'user', id: 'd', version: '2026-01-02T00:00:00Z', op: 'delete', data: null }])).toEqual(['written']);
    expect(await store.count('user')).toBe(0);
    expect(await store.writeBatch([user('d', '2026-01-01T12:00:00Z')])).toEqual(['stale']);
    expect(await store.get('user', 'd')).toMatchObject({ deleted: true, data: null });
  });

  it('writes outbox rows in the same transaction, only for changes', async () => {
    const store = await open();
    await store.writeBatch([user('o1', '1', 'one', 'event-1'), user('o2', '1', 'two', 'event-2')]);
    await store.writeBatch([user('o1', '2', 'one', 'event-1-again'), user('o2', '2', 'changed', 'event-2-changed')]);
    const pending = await store.pendingOutbox(10);
    expect(pending.map((row) => row.message.toString('utf8'))).toEqual(['event-1', 'event-2', 'event-2-changed']);
    await store.markPublished(pending.slice(0, 2).map((row) => row.seq));
    expect(await store.countPendingOutbox()).toBe(1);
    // Pruning takes published events only, never a pending one.
    expect(await store.prunePublishedOutbox(new Date(Date.now() + 60_000))).toBe(2);
    expect((await store.pendingOutbox(10)).map((row) => row.message.toString('utf8'))).toEqual(['event-2-changed']);
  });

  it('keeps links to other systems', async () => {
    const store = await open();
    await store.setLinks('user', 'crm', new Map([['u1', '101'], ['u2', '102']]));
    await store.setLinks('user', 'crm', new Map([['u2', '202']]));
    expect(await store.getLinks('user', 'crm', ['u1', 'u2', 'u3'])).toEqual(new Map([['u1', '101'], ['u2', '202']]));
    await store.setLinks('user', 'crm-state', new Map([['u1', '{"version":"1"}']]));
    const both = await store.getLinkTargets('user', ['crm', 'crm-state', 'crm-requisite'], ['u1', 'u2']);
    expect(both).toEqual(new Map([
      ['crm', new Map([['u1', '101'], ['u2', '202']])],
      ['crm-state', new Map([['u1', '{"version":"1"}']])],
      ['crm-requisite', new Map()],
    ]));
  });

  it('takes a lock atomically, lets it expire, and only the holder extends or releases it', async () => {
    const store = await open();
    expect(await store.tryLock('drain:user', 60_000, 'one')).toBe(true);
    expect(await store.tryLock('drain:user', 60_000, 'two')).toBe(false);
    expect(await store.extendLock('drain:user', 60_000, 'two')).toBe(false);
    expect(await store.extendLock('drain:user', 60_000, 'one')).toBe(true);
    expect((await store.heldLocks()).map((l) => [l.name, l.lockedBy])).toEqual([['drain:user', 'one']]);
    await store.unlock('drain:user', 'two');
    expect(await store.tryLock('drain:user', 60_000, 'two')).toBe(false);
    await store.unlock('drain:user', 'one');
    const takenAt = Date.now();
    expect(await store.tryLock('drain:user', 1500, 'two')).toBe(true);
    expect(await store.tryLock('drain:user', 60_000, 'three')).toBe(false);
    // No fixed sleep: ask until the lock is free, and check it was not free before its 1.5 s were up.
    await waitFor('the 1.5 s lock to expire', () => store.tryLock('drain:user', 60_000, 'three'), 10_000, 50);
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual(1500);
    expect((await store.heldLocks()).map((l) => [l.name, l.lockedBy])).toEqual([['drain:user', 'three']]);
  });

  it('journals runs, with their owner and a heartbeat while they run', async () => {
    const store = await open();
    const id = await store.startRun('user', 'host-a:4242');
    const [started] = await store.listRuns(5);
    expect(started).toMatchObject({ id, command: 'user', status: 'running', owner: 'host-a:4242', finishedAt: null });
    expect(Date.parse(started.heartbeatAt!)).toBeGreaterThan(Date.now() - 60_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.heartbeatRun(id);
    const [beating] = await store.listRuns(5);
    expect(Date.parse(beating.heartbeatAt!)).toBeGreaterThan(Date.parse(started.heartbeatAt!));
    await store.finishRun(id, 'partial', { read: 3, written: 2, deadLettered: 1 }, null);
    const [run] = await store.listRuns(5);
    expect(run).toMatchObject({ id, command: 'user', status: 'partial', counts: { read: 3, written: 2, deadLettered: 1 }, error: null });
    expect(run.finishedAt).not.toBeNull();
    // A beat that comes after the end (a timer already due) leaves the finished row as it is.
    await store.heartbeatRun(id);
    expect((await store.listRuns(5))[0].heartbeatAt).toBe(run.heartbeatAt);
  });
});

describe('record store on postgres, shared by several writers', () => {
  it('keeps the newest version whatever order concurrent batches commit in', async () => {
    const schema = await createPgSchema();
    const stores = await Promise.all([openRecordStore(schema.url), openRecordStore(schema.url), openRecordStore(schema.url)]);
    cleanups.push(async () => { await Promise.all(stores.map((s) => s.close())); await schema.drop(); });
    const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
    await Promise.all(stores.map((store, writer) =>
      Promise.all([1, 2, 3].map((round) => store.writeBatch(ids.map((id) => user(id, String(round * 10 + writer), `w${writer}r${round}`)))))));
    for (const id of ids.slice(0, 5)) expect(await stores[0].get('user', id)).toMatchObject({ version: '32', data: { name: 'w2r3' } });
    expect(await stores[0].count('user')).toBe(50);
  });
});
