import { describe, expect, it } from 'vitest';
import type { RecordWrite } from '../../src/recordstore/record-store.js';
import { compareVersions, contentHash, nextVersion, planBatch, recordKey, serializeData, versionKey } from '../../src/recordstore/versioning.js';

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

describe('versionKey: the sort key the store compares in SQL', () => {
  it('keeps a canonical UTC time as it is, and brings every other ISO time to that form', () => {
    expect(versionKey('2026-11-22T10:15:00.000Z')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22T10:15:00Z')).toBe('t:2026-11-22T10:15:00.000Z');
    // Fewer than three fraction digits is not the canonical form: it is padded, not kept as written.
    expect(versionKey('2026-11-22T10:15:00.1Z')).toBe('t:2026-11-22T10:15:00.100Z');
    expect(versionKey('2026-11-22T10:15:00.12Z')).toBe('t:2026-11-22T10:15:00.120Z');
    expect(versionKey('2026-11-22T10:15:00+03:00')).toBe('t:2026-11-22T07:15:00.000Z');
    expect(versionKey('2026-11-22')).toBe('t:2026-11-22T00:00:00.000Z');
  });

  it('reads a zone-less date-time as UTC, with a T or a space, with or without seconds and fraction', () => {
    expect(versionKey('2026-11-22T10:15')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22 10:15')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22 10:15:30')).toBe('t:2026-11-22T10:15:30.000Z');
    expect(versionKey('2026-11-22T10:15:30.5')).toBe('t:2026-11-22T10:15:30.500Z');
  });

  it('pads counters to 24 digits and keeps anything else as text', () => {
    expect(versionKey('42')).toBe('n:000000000000000000000042');
    expect(versionKey('0')).toBe('n:000000000000000000000000');
    expect(versionKey('abc')).toBe('s:abc');
    expect(versionKey('12a')).toBe('s:12a');
    expect(versionKey('a12')).toBe('s:a12');
    expect(versionKey('v2026-11-22')).toBe('s:v2026-11-22');
    // Starts like a date but is none: text, not an invalid time.
    expect(versionKey('2026-13-45')).toBe('s:2026-13-45');
    expect(versionKey('2026-11-22T10:15:00.000Zjunk')).toBe('s:2026-11-22T10:15:00.000Zjunk');
    expect(versionKey('x2026-11-22T10:15:00.000Z')).toBe('s:x2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22T10:15x')).toBe('s:2026-11-22T10:15x');
    expect(versionKey('2026-11-22T10:15:00.000')).toBe('t:2026-11-22T10:15:00.000Z');
  });
});

describe('versionKey: only whole, well-formed times are times', () => {
  // Under `npm run test:mutation` the process runs in Asia/Tokyo (vitest.unit.config.ts): a zone-less time read
  // as local time instead of UTC would land nine hours early.
  it('a zone-less time of any accepted shape is read as UTC, never in the process zone', () => {
    expect(versionKey('2026-11-22 10:15')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22T10:15:30')).toBe('t:2026-11-22T10:15:30.000Z');
    expect(versionKey('2026-11-22 10:15:30.55')).toBe('t:2026-11-22T10:15:30.550Z');
  });

  it('one digit where the canonical form has two, or letters where it has digits, is text', () => {
    for (const text of [
      '2026-11-22T1:15:00.000Z', '2026-11-22T10:1:00.000Z', '2026-11-22T10:15:0.000Z', '2026-1-22T10:15:00.000Z', '2026-11-2T10:15:00.000Z',
      '2-11-22T10:15:00.000Z', 'abcd-11-22T10:15:00.000Z', '2026-ab-22T10:15:00.000Z', '2026-11-abT10:15:00.000Z', '2026-11-22Tab:15:00.000Z',
      '2026-11-22T10:ab:00.000Z', '2026-11-22T10:15:ab.000Z', '2026-11-22T10:15:00.abcZ',
    ]) {
      expect(versionKey(text), text).toBe(`s:${text}`);
    }
  });

  it('a zone-less time with one-digit fields is text, in every process zone: a lenient parser reads it as local time', () => {
    const zone = process.env.TZ;
    try {
      for (const tz of ['Asia/Tokyo', 'America/New_York', 'UTC']) {
        process.env.TZ = tz;
        expect(versionKey('2026-11-22 1:15'), tz).toBe('s:2026-11-22 1:15');
        expect(versionKey('2026-11-22 10:1'), tz).toBe('s:2026-11-22 10:1');
        expect(versionKey('2026-11-22 10:15:0'), tz).toBe('s:2026-11-22 10:15:0');
        expect(versionKey('2026-11-22 10:15 AM'), tz).toBe('s:2026-11-22 10:15 AM');
        // With its zone a time is that instant wherever it is read.
        expect(versionKey('2026-11-22 10:15:00+03:00'), tz).toBe('t:2026-11-22T07:15:00.000Z');
        expect(versionKey('2026-11-22T10:15:00-0500'), tz).toBe('t:2026-11-22T15:15:00.000Z');
        expect(versionKey('2026-11-22 10:15:00 UTC'), tz).toBe('t:2026-11-22T10:15:00.000Z');
        expect(versionKey('2026-11-22 10:15:00 gmt'), tz).toBe('t:2026-11-22T10:15:00.000Z');
        expect(versionKey('2026-11-22 10:15:00 +03:00'), tz).toBe('t:2026-11-22T07:15:00.000Z');
        expect(versionKey('2026-11-22T10:15:00z'), tz).toBe('t:2026-11-22T10:15:00.000Z');
        // An hour-only offset, a zone glued to the time or a date with one-digit fields: Date.parse cannot be trusted, text.
        expect(versionKey('2026-11-22T10:15:00+03'), tz).toBe('s:2026-11-22T10:15:00+03');
        expect(versionKey('2026-11-22 10:15:00UTC'), tz).toBe('s:2026-11-22 10:15:00UTC');
        expect(versionKey('2026-11-22 1:15 +03:00'), tz).toBe('t:2026-11-21T22:15:00.000Z');
        // A zone that is not at the end, or in parentheses (Date.parse reads that one in the process zone): text.
        expect(versionKey('2026-11-22 UTC 10:15'), tz).toBe('s:2026-11-22 UTC 10:15');
        expect(versionKey('2026-11-22 10:15:00 (UTC)'), tz).toBe('s:2026-11-22 10:15:00 (UTC)');
        expect(versionKey('Nov 22 2026 10:15 UTC'), tz).toBe('s:Nov 22 2026 10:15 UTC');
        expect(versionKey('2026-11-22'), tz).toBe('t:2026-11-22T00:00:00.000Z');
        expect(versionKey('2026-11-22 10:15'), tz).toBe('t:2026-11-22T10:15:00.000Z');
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('text that a lenient date parser would read as a time stays text', () => {
    expect(versionKey('Nov 22 2026')).toBe('s:Nov 22 2026');
    expect(versionKey('x 2026-11-22')).toBe('s:x 2026-11-22');
    expect(versionKey('2026-11-2 10:15')).toBe('s:2026-11-2 10:15');
    expect(versionKey('2026-11-22/2026-11-23 10:15')).toBe('s:2026-11-22/2026-11-23 10:15');
  });
});

describe('compareVersions', () => {
  it('answers -1, 0 or 1 by the instant or the number, not by the text', () => {
    expect(compareVersions('2026-11-22T12:00:00+03:00', '2026-11-22T10:00:00Z')).toBe(-1);
    expect(compareVersions('2026-11-22T10:00:00Z', '2026-11-22T12:00:00+03:00')).toBe(1);
    expect(compareVersions('2026-11-22T09:00:00Z', '2026-11-22T12:00:00+03:00')).toBe(0);
    expect(compareVersions('9', '10')).toBe(-1);
    expect(compareVersions('10', '9')).toBe(1);
    expect(compareVersions('007', '7')).toBe(0);
  });
});

describe('nextVersion: the smallest version after this one', () => {
  it('is one millisecond later for a time, in canonical UTC', () => {
    expect(nextVersion('2026-11-22T10:15:00.000Z')).toBe('2026-11-22T10:15:00.001Z');
    expect(nextVersion('2026-11-22T23:59:59.999Z')).toBe('2026-11-23T00:00:00.000Z');
    expect(nextVersion('2026-11-22T13:15:00+03:00')).toBe('2026-11-22T10:15:00.001Z');
  });

  it('is one more for a counter, keeping its width, and beyond a double exactly', () => {
    expect(nextVersion('0099')).toBe('0100');
    expect(nextVersion('999')).toBe('1000');
    expect(nextVersion('9007199254740993')).toBe('9007199254740994');
  });

  it('is undefined for a version that does not order', () => {
    expect(nextVersion('abc')).toBeUndefined();
  });
});

describe('planBatch, the version guard of the records sink', () => {
  it('writes a new record with its sort key, content hash and stored JSON, as a change', () => {
    const { outcomes, rows } = planBatch([write('n', '2026-01-01T00:00:00+03:00', { a: 1 })], new Map());
    expect(outcomes).toEqual(['written']);
    expect(rows).toEqual([
      {
        write: write('n', '2026-01-01T00:00:00+03:00', { a: 1 }),
        versionKey: 't:2025-12-31T21:00:00.000Z',
        // `printf '{"a":1}' | sha256sum`
        hash: '015abd7f5cc57a2dd94b7590f04ad808',
        json: '{"a":1}',
        changed: true,
      },
    ]);
  });

  it('skips a redelivery (same version, same content) without a row, and writes new content under the same version', () => {
    const stored = new Map([[recordKey('user', 'a'), { versionKey: 'n:000000000000000000000005', hash: '015abd7f5cc57a2dd94b7590f04ad808' }]]);
    const same = planBatch([write('a', '5', { a: 1 })], stored);
    expect(same).toEqual({ outcomes: ['unchanged'], rows: [] });
    const other = planBatch([write('a', '5', { a: 2 })], stored);
    expect(other.outcomes).toEqual(['written']);
    expect(other.rows.map((r) => [r.json, r.changed])).toEqual([['{"a":2}', true]]);
    // The map the caller passed is left as it was.
    expect(stored.get(recordKey('user', 'a'))).toEqual({ versionKey: 'n:000000000000000000000005', hash: '015abd7f5cc57a2dd94b7590f04ad808' });
    expect(stored.size).toBe(1);
  });

  it('writes a delete as a tombstone (null JSON) that differs from every content', () => {
    const stored = new Map([[recordKey('user', 'a'), { versionKey: 'n:000000000000000000000005', hash: '015abd7f5cc57a2dd94b7590f04ad808' }]]);
    const { outcomes, rows } = planBatch([{ type: 'user', id: 'a', version: '6', op: 'delete', data: { name: 'a' } }], stored);
    expect(outcomes).toEqual(['written']);
    expect(rows.map((r) => [r.json, r.hash, r.changed])).toEqual([[null, 'c368e1dbdea2a79b07d3c07c89b28821', true]]);
  });

  it('keeps the change event of a chain whose last write only moves the version', () => {
    const { outcomes, rows } = planBatch([write('c', '1', { n: 1 }), write('c', '2', { n: 2 }), write('c', '3', { n: 2 })], new Map());
    expect(outcomes).toEqual(['written', 'written', 'unchanged']);
    expect(rows.map((r) => [r.write.version, r.json, r.changed])).toEqual([['3', '{"n":2}', true]]);
  });

  it('judges each write against the one before it in the batch, per entity', () => {
    const { outcomes, rows } = planBatch([write('d', '2', { n: 2 }), write('e', '1', { n: 1 }), write('d', '2', { n: 2 }), write('d', '1', { n: 9 })], new Map());
    expect(outcomes).toEqual(['written', 'written', 'unchanged', 'stale']);
    expect(rows.map((r) => [r.write.id, r.write.version])).toEqual([['d', '2'], ['e', '1']]);
  });

  it('keys records by type and id, so a user and a product with one id are two records', () => {
    expect(recordKey('user', 'a')).toBe('user\u0000a');
    const product: RecordWrite = { type: 'product', id: 'a', version: '1', op: 'upsert', data: { n: 1 } };
    const { outcomes, rows } = planBatch([write('a', '2', { n: 1 }), product], new Map());
    expect(outcomes).toEqual(['written', 'written']);
    expect(rows).toHaveLength(2);
  });

  it('stores an upsert without data as JSON null', () => {
    expect(serializeData({ op: 'upsert', data: null })).toBe('null');
  });
});
