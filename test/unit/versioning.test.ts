import { describe, expect, it } from 'vitest';
import type { RecordWrite } from '../../src/recordstore/record-store.js';
import { contentHash, planBatch, recordKey, serializeData, versionKey } from '../../src/recordstore/versioning.js';

const write = (id: string, version: string, data: Record<string, unknown> = { name: id }): RecordWrite => ({ type: 'user', id, version, op: 'upsert', data });

describe('versions and content hashes', () => {
  it('orders ISO times across offsets, and counters numerically', () => {
    expect(versionKey('2026-11-22T12:00:00+03:00') < versionKey('2026-11-22T10:00:00Z')).toBe(true);
    expect(versionKey('2026-11-22T09:00:00Z') === versionKey('2026-11-22T12:00:00+03:00')).toBe(true);
    expect(versionKey('9') < versionKey('10')).toBe(true);
    expect(versionKey('000009') === versionKey('9')).toBe(true);
  });

  it('hashes the data as stored, and a tombstone unlike any content', () => {
    expect(serializeData({ op: 'upsert', data: { a: 1 } })).toBe('{"a":1}');
    expect(serializeData({ op: 'delete', data: { a: 1 } })).toBeNull();
    // Expected hashes from outside the code: `printf '{"a":1}' | sha256sum`, first 32 hex digits.
    expect(contentHash(serializeData({ op: 'upsert', data: { a: 1 } }))).toBe('015abd7f5cc57a2dd94b7590f04ad808');
    expect(contentHash('{}')).toBe('44136fa355b3678a1146ad16f7e8649e');
    // A tombstone hashes a marker no JSON text can be (`printf '\0deleted' | sha256sum`).
    expect(contentHash(null)).toBe('c368e1dbdea2a79b07d3c07c89b28821');
  });
});

describe('planBatch', () => {
  it('writes new and newer, refuses older as stale, skips same content as unchanged', () => {
    // The stored row as the store holds it: its sort key and `printf '{"name":"a"}' | sha256sum`.
    const stored = new Map([[recordKey('user', 'a'), { versionKey: 't:2026-01-02T00:00:00.000Z', hash: 'd9d719b27480b55cd4918020e7473e71' }]]);
    const { outcomes, rows } = planBatch([
      write('a', '2026-01-01T00:00:00Z', { name: 'older' }),
      write('a', '2026-01-02T00:00:00Z'),
      write('a', '2026-01-03T00:00:00Z'),
      write('b', '2026-01-01T00:00:00Z'),
    ], stored);
    expect(outcomes).toEqual(['stale', 'unchanged', 'unchanged', 'written']);
    // 'a' moves its version forward without a change event; 'b' is new.
    expect(rows.map((r) => [r.write.id, r.write.version, r.changed])).toEqual([['a', '2026-01-03T00:00:00Z', false], ['b', '2026-01-01T00:00:00Z', true]]);
  });

  it('judges several writes of one entity in order and writes only the last', () => {
    const { outcomes, rows } = planBatch([write('c', '2', { n: 2 }), write('c', '1', { n: 1 }), write('c', '3', { n: 3 })], new Map());
    expect(outcomes).toEqual(['written', 'stale', 'written']);
    expect(rows).toHaveLength(1);
    expect(rows[0].write.version).toBe('3');
  });
});
