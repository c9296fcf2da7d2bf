import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore, RecordWrite, WriteOutcome } from '../../src/recordstore/record-store.js';

/**
 * A drain's batch on SQLite (no change events, no metadata) is judged by SQL write by write (issue 11, item 1)
 * instead of a lookup and a plan. These tests hold it to the rules of DESIGN §6/§7, written out here by hand:
 * older than the stored version is stale and changes nothing; the same content is unchanged (a newer version is
 * still recorded); anything else is written; a delete leaves a tombstone; an entity twice in a batch is judged
 * against what the earlier write left.
 */
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

async function open(): Promise<{ store: RecordStore; db: Database.Database }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-guarded-'));
  const file = path.join(dir, 'store.db');
  const store = await openRecordStore(`sqlite:${file}`);
  const db = new Database(file, { readonly: true });
  cleanups.push(async () => { db.close(); await store.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  return { store, db };
}

const at = (minute: number) => `2026-11-22T10:${String(minute).padStart(2, '0')}:00.000Z`;
const upsert = (id: string, minute: number, name: string): RecordWrite => ({ type: 'user', id, version: at(minute), op: 'upsert', data: { name } });
const remove = (id: string, minute: number): RecordWrite => ({ type: 'user', id, version: at(minute), op: 'delete', data: null });

type Stored = { version: string; data: string | null; deleted: number; updated_at: string };
const stored = (db: Database.Database, id: string) => db.prepare('SELECT version, data, deleted, updated_at FROM records WHERE type = ? AND id = ?').get('user', id) as Stored | undefined;

describe('SQLite drain batch, judged write by write', () => {
  it('gives written, stale and unchanged by the rules, and a stale or same-version write changes nothing', async () => {
    const { store, db } = await open();
    expect(await store.writeBatch([upsert('a', 10, 'one'), upsert('b', 10, 'one'), remove('c', 10)])).toEqual(['written', 'written', 'written']);
    const before = stored(db, 'a')!;
    expect(await store.writeBatch([
      upsert('a', 9, 'older'), // stale
      upsert('a', 10, 'one'), // same version, same content
      upsert('b', 11, 'one'), // newer, same content
      upsert('c', 11, 'back'), // newer than the tombstone, other content
    ])).toEqual(['stale', 'unchanged', 'unchanged', 'written']);
    // The stale and the same-version write left the row as it was, its update time included.
    expect(stored(db, 'a')).toEqual(before);
    expect(stored(db, 'b')).toMatchObject({ version: at(11), data: '{"name":"one"}', deleted: 0 });
    expect(stored(db, 'c')).toMatchObject({ version: at(11), data: '{"name":"back"}', deleted: 0 });
  });

  it('keeps a tombstone: an older upsert after a delete is stale, the same delete again unchanged', async () => {
    const { store, db } = await open();
    expect(await store.writeBatch([upsert('d', 10, 'one'), remove('d', 12)])).toEqual(['written', 'written']);
    expect(await store.writeBatch([upsert('d', 11, 'one'), remove('d', 12), remove('d', 13)])).toEqual(['stale', 'unchanged', 'unchanged']);
    expect(stored(db, 'd')).toMatchObject({ version: at(13), data: null, deleted: 1 });
    expect(await store.count('user')).toBe(0);
  });

  it('agrees with a model of the rules over many random batches', async () => {
    const { store, db } = await open();
    // A small deterministic generator: many collisions of ids, versions and contents.
    let seed = 11;
    const next = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const model = new Map<string, { minute: number; content: string | null }>();
    for (let round = 0; round < 40; round++) {
      const writes = Array.from({ length: 1 + next(12) }, () => {
        const id = `u${next(5)}`;
        return next(5) === 0 ? remove(id, next(8)) : upsert(id, next(8), `n${next(3)}`);
      });
      const expected: WriteOutcome[] = writes.map((write) => {
        const minute = Number(write.version.slice(14, 16));
        const content = write.op === 'delete' ? null : JSON.stringify(write.data);
        const before = model.get(write.id);
        if (before && before.minute > minute) return 'stale';
        model.set(write.id, { minute, content });
        return before && before.content === content ? 'unchanged' : 'written';
      });
      expect(await store.writeBatch(writes), `round ${round}`).toEqual(expected);
      for (const [id, { minute, content }] of model) {
        expect(stored(db, id), `round ${round}, ${id}`).toMatchObject({ version: at(minute), data: content, deleted: content === null ? 1 : 0 });
      }
    }
  });
});
