import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load-config.js';
import { ExchangeError } from '../../../src/errors.js';
import type { CommerceMlHeader, OneCRecord } from '../../../src/onec/one-c-record.js';
import { parseOneCDate, parseOneCVersion } from '../../../src/onec/one-c-values.js';
import { readCommerceMl } from '../../../src/onec/read-commerceml.js';
import { readOneCCsv } from '../../../src/onec/read-csv.js';
import { versionKey } from '../../../src/recordstore/versioning.js';
import { externalVersion } from '../../../src/sinks/elasticsearch/external-version.js';

/*
 * Defect 9: a zone-less 1C date-time is read in import.timeZone (default Europe/Moscow), never in the
 * process's TZ. Expected values are worked out by hand from the tz database: Moscow was UTC+3 in winter and
 * UTC+4 in summer until 2011, UTC+4 all year from 2011-03-27 to 2014-10-26, UTC+3 since.
 */
const fixtures = path.resolve(__dirname, '../../../fixtures/1c');
const originalTz = process.env.TZ;
afterEach(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

/** Node re-reads TZ when it is assigned: every assertion below runs under zones other than the 1C zone. */
const processZones = ['UTC', 'America/New_York', 'Asia/Tokyo', 'Europe/Moscow'];

async function readXml(file: string, timeZone?: string): Promise<{ header: CommerceMlHeader; records: OneCRecord[] }> {
  let header: CommerceMlHeader | undefined;
  const records: OneCRecord[] = [];
  for await (const record of readCommerceMl(file, { timeZone, onHeader: (h) => (header = h) })) records.push(record);
  return { header: header!, records };
}

describe('parseOneCVersion: a zone-less 1C date-time in the configured zone, as canonical UTC', () => {
  it.each(processZones)('gives the same literal versions whatever the process TZ (%s)', (zone) => {
    process.env.TZ = zone;
    expect(parseOneCVersion('2026-11-22T10:15:00', 'Europe/Moscow')).toBe('2026-11-22T07:15:00.000Z');
    expect(parseOneCVersion('2007-10-30T18:13:34', 'Europe/Moscow')).toBe('2007-10-30T15:13:34.000Z');
    // Moscow summer time (until 2011) and the all-year UTC+4 of 2011–2014.
    expect(parseOneCVersion('2010-07-01T12:00:00', 'Europe/Moscow')).toBe('2010-07-01T08:00:00.000Z');
    expect(parseOneCVersion('2014-06-01T0:36:33', 'Europe/Moscow')).toBe('2014-05-31T20:36:33.000Z');
    expect(parseOneCVersion('02.02.2024 10:15:00', 'Europe/Moscow')).toBe('2024-02-02T07:15:00.000Z');
    expect(parseOneCVersion('2024-02-02', 'Europe/Moscow')).toBe('2024-02-01T21:00:00.000Z');
    expect(parseOneCVersion('2026-11-22T10:15:00.5', 'Europe/Moscow')).toBe('2026-11-22T07:15:00.500Z');
    expect(parseOneCVersion('2026-11-22T10:15:00', 'UTC')).toBe('2026-11-22T10:15:00.000Z');
    // A date that names its offset is that instant, whatever the configured zone.
    expect(parseOneCVersion('2026-11-22T10:15:00+05:00', 'Europe/Moscow')).toBe('2026-11-22T05:15:00.000Z');
    expect(parseOneCVersion('2026-11-22T10:15:00Z', 'Europe/Moscow')).toBe('2026-11-22T10:15:00.000Z');
    expect(parseOneCVersion('0001-01-01T00:00:00', 'Europe/Moscow')).toBeUndefined();
  });

  it('resolves DST transitions: a skipped local time moves forward, a repeated one takes its first occurrence', () => {
    process.env.TZ = 'UTC';
    expect(parseOneCVersion('2026-07-01T12:00:00', 'America/New_York')).toBe('2026-07-01T16:00:00.000Z');
    expect(parseOneCVersion('2026-01-15T12:00:00', 'America/New_York')).toBe('2026-01-15T17:00:00.000Z');
    // 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist and is read as 03:30 EDT.
    expect(parseOneCVersion('2026-03-08T02:30:00', 'America/New_York')).toBe('2026-03-08T07:30:00.000Z');
    // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice, the first (EDT) is taken.
    expect(parseOneCVersion('2026-11-01T01:30:00', 'America/New_York')).toBe('2026-11-01T05:30:00.000Z');
    expect(parseOneCVersion('2026-11-01T00:59:59', 'America/New_York')).toBe('2026-11-01T04:59:59.000Z');
    expect(parseOneCVersion('2026-11-01T02:00:00', 'America/New_York')).toBe('2026-11-01T07:00:00.000Z');
    // Moscow's last change to summer time: 2010-03-28 02:00 → 03:00.
    expect(parseOneCVersion('2010-03-28T02:30:00', 'Europe/Moscow')).toBe('2010-03-27T23:30:00.000Z');
  });
});

describe('parseOneCDate: zone-less date-times inside data carry the offset of the configured zone', () => {
  it.each(processZones)('under TZ=%s', (zone) => {
    process.env.TZ = zone;
    expect(parseOneCDate('2007-10-30', '15:19:27', 'Europe/Moscow')).toBe('2007-10-30T15:19:27+03:00');
    expect(parseOneCDate('2014-06-01T00:36:33', undefined, 'Europe/Moscow')).toBe('2014-06-01T00:36:33+04:00');
    expect(parseOneCDate('30.06.2015 16:36', undefined, 'Europe/Moscow')).toBe('2015-06-30T16:36:00+03:00');
    expect(parseOneCDate('2026-07-01T12:00:00', undefined, 'America/New_York')).toBe('2026-07-01T12:00:00-04:00');
    // A calendar date has no time to place in a zone: it stays a date.
    expect(parseOneCDate('29.06.2015', undefined, 'Europe/Moscow')).toBe('2015-06-29');
    // An offset 1C wrote is kept as written.
    expect(parseOneCDate('2026-11-22T10:15:00+05:00', undefined, 'Europe/Moscow')).toBe('2026-11-22T10:15:00+05:00');
  });
});

describe('the readers version real 1C files in import.timeZone', () => {
  it.each(processZones)('CommerceML ДатаФормирования and document dates (TZ=%s)', async (zone) => {
    process.env.TZ = zone;
    const catalog = await readXml(path.join(fixtures, 'dobromyslov-commerceml-parser/import0_1.xml'));
    expect(catalog.header).toMatchObject({ version: '2020-04-07T10:16:06.000Z', versionFrom: 'ДатаФормирования' });
    expect(catalog.records).toHaveLength(36);
    expect(new Set(catalog.records.map((r) => r.version))).toEqual(new Set(['2020-04-07T10:16:06.000Z']));

    const orders = await readXml(path.join(fixtures, 'irpsv-commerceml/off-doc-1c/orders.xml'));
    expect(orders.header.version).toBe('2007-10-30T15:13:34.000Z');
    const document = orders.records.find((r) => r.type === 'mutualsettlements' && r.id === '36')!;
    expect(document).toMatchObject({ version: '2007-10-30T15:13:34.000Z', data: { number: '36', date: '2007-10-30T15:19:27+03:00' } });

    const summer2014 = await readXml(path.join(fixtures, 'irpsv-commerceml/cs-cart/import.xml'));
    expect(summer2014.header.version).toBe('2014-05-31T20:36:33.000Z');

    const inUtc = await readXml(path.join(fixtures, 'dobromyslov-commerceml-parser/import0_1.xml'), 'UTC');
    expect(inUtc.header.version).toBe('2020-04-07T13:16:06.000Z');
  });

  it.each(processZones)('CSV version and date columns (TZ=%s)', async (zone) => {
    process.env.TZ = zone;
    const records: OneCRecord[] = [];
    for await (const record of readOneCCsv(path.join(fixtures, 'csv/settlements-win1251-semicolon.csv'), { type: 'mutualsettlements' })) records.push(record);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ id: 'doc-1', version: '2024-02-02T07:15:00.000Z', data: { date: '2024-02-01' } });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-tz-'));
    try {
      const file = path.join(dir, 'settlements.csv');
      fs.writeFileSync(file, 'Ид;Дата;Дата изменения\nd-1;30.06.2015 16:36;2026-07-01T12:00:00\nd-2;01.07.2015;17\n');
      const rows: OneCRecord[] = [];
      for await (const record of readOneCCsv(file, { type: 'mutualsettlements', timeZone: 'America/New_York' })) rows.push(record);
      expect(rows.map((r) => [r.id, r.version, r.data.date])).toEqual([
        ['d-1', '2026-07-01T16:00:00.000Z', '2015-06-30T16:36:00-04:00'],
        ['d-2', '17', '2015-07-01'],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('versionKey never reads the process zone', () => {
  it.each(processZones)('a zone-less ISO version (from a JSON-lines message) is UTC (TZ=%s)', (zone) => {
    process.env.TZ = zone;
    expect(versionKey('2026-11-22T10:15:00')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22 10:15')).toBe('t:2026-11-22T10:15:00.000Z');
    expect(versionKey('2026-11-22')).toBe('t:2026-11-22T00:00:00.000Z');
    expect(versionKey('2026-11-22T10:15:00+03:00')).toBe('t:2026-11-22T07:15:00.000Z');
    expect(versionKey('2026-11-22T07:15:00.000Z')).toBe('t:2026-11-22T07:15:00.000Z');
  });
});

describe('the Elasticsearch external version never reads the process zone', () => {
  it.each(processZones)('a zone-less version is UTC there too (TZ=%s)', (zone) => {
    process.env.TZ = zone;
    expect(externalVersion('2026-11-22T10:15:00')).toBe(Date.UTC(2026, 10, 22, 10, 15, 0));
    expect(externalVersion('2026-11-22T07:15:00.000Z')).toBe(Date.UTC(2026, 10, 22, 7, 15, 0));
    expect(externalVersion('2026-11-22T10:15:00+03:00')).toBe(Date.UTC(2026, 10, 22, 7, 15, 0));
    expect(externalVersion('42')).toBe(42);
  });
});

describe('import.timeZone', () => {
  it('defaults to Europe/Moscow and takes any IANA zone', () => {
    expect(parseConfig({}).import.timeZone).toBe('Europe/Moscow');
    expect(parseConfig({ import: { timeZone: 'Asia/Yekaterinburg' } }).import.timeZone).toBe('Asia/Yekaterinburg');
    expect(parseConfig({ import: { timeZone: 'UTC' } }).import.timeZone).toBe('UTC');
  });

  it('refuses an unknown zone, naming the key (exit 78)', () => {
    let error: unknown;
    try {
      parseConfig({ import: { timeZone: 'Europe/Atlantis' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ExchangeError);
    expect((error as ExchangeError).code).toBe('CONFIG');
    expect((error as ExchangeError).details).toHaveLength(1);
    expect((error as ExchangeError).details[0]).toMatch(/^import\.timeZone: /);
  });
});
