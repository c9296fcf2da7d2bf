import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ExchangeError } from '../../../src/errors.js';
import { validateEnvelope } from '../../../src/messages/envelope.js';
import { readOneCCsv, type CsvOptions } from '../../../src/onec/read-csv.js';
import { defaultCsvMapping } from '../../../src/onec/csv-mapping.js';
import { detectFileKind } from '../../../src/onec/detect-file-kind.js';
import type { OneCRecord } from '../../../src/onec/one-c-record.js';

const csv = (name: string) => path.resolve('fixtures/1c/csv', name);

async function readAll(file: string, options: CsvOptions) {
  const records: OneCRecord[] = [];
  let format: { encoding: string; delimiter: string } | undefined;
  for await (const record of readOneCCsv(file, { ...options, onFormat: (f) => (format = f) })) {
    records.push(record);
    const result = validateEnvelope({ type: record.type, op: record.op, id: record.id, version: record.version, source: '1c', data: record.data });
    expect(result.ok ? 'ok' : result.reason).toBe('ok');
  }
  return { records, format: format! };
}

async function readError(file: string, options: CsvOptions): Promise<ExchangeError> {
  try {
    for await (const _ of readOneCCsv(file, options)) void _;
  } catch (error) {
    return error as ExchangeError;
  }
  throw new Error(`${file} was read without error`);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onec-csv-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const writeTmp = (name: string, content: string | Buffer) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
};

describe('readOneCCsv', () => {
  it('reads UTF-8 with BOM, ";" and quoted fields holding the delimiter and doubled quotes', async () => {
    const { records, format } = await readAll(csv('counterparties-utf8-bom-semicolon.csv'), { type: 'user', version: '2024-01-01T00:00:00' });
    expect(format).toEqual({ encoding: 'utf-8', delimiter: ';' });
    expect(records).toHaveLength(2);
    expect(records[0]).toEqual({
      type: 'user',
      id: '00-000001',
      op: 'upsert',
      version: '2024-01-01T00:00:00',
      source: { file: csv('counterparties-utf8-bom-semicolon.csv'), line: 2 },
      data: {
        code: '00-000001',
        name: 'Ромашка; ООО',
        fullName: 'Общество с ограниченной ответственностью "Ромашка"',
        inn: '7701234567',
        kpp: '770101001',
        address: 'г. Москва, ул. Тверская, д. 1',
        phone: '+7 495 123-45-67',
        email: 'info@romashka.ru',
      },
    });
    expect(records[1].data).toEqual({ code: '00-000002', name: 'ИП Петров', fullName: 'Петров Пётр Петрович', inn: '500100732259', address: 'Московская обл., г. Химки' });
  });

  it('reads windows-1251 with ",": decimal commas, thousands spaces, prices[0]', async () => {
    const { records, format } = await readAll(csv('products-win1251-comma.csv'), { type: 'product' });
    expect(format).toEqual({ encoding: 'windows-1251', delimiter: ',' });
    expect(records.map((r) => r.id)).toEqual(['bd72d910-55bc-11d9-848a-00112f43529a', 'bd72d913-55bc-11d9-848a-00112f43529a']);
    expect(records[0].data).toEqual({
      sku: 'Б-130001',
      name: 'Женские ботфорты, коричневые',
      unit: 'пар',
      stock: 12,
      barcode: '2000018987155',
      prices: [{ typeId: null, type: null, value: 1234.5, currency: 'RUB' }],
    });
    expect(records[1].data).toMatchObject({ stock: 0.5, prices: [{ value: 3600, currency: 'RUB' }] });
    // Without a version column the version is the file's mtime, an ISO time.
    expect(records[0].version).toBe(fs.statSync(csv('products-win1251-comma.csv')).mtime.toISOString());
  });

  it('reads UTF-8 without BOM with ",": dd.mm.yyyy dates (with time) and signed amounts', async () => {
    const { records, format } = await readAll(csv('settlements-utf8-comma.csv'), { type: 'mutualsettlements' });
    expect(format).toEqual({ encoding: 'utf-8', delimiter: ',' });
    expect(records.map((r) => r.id)).toEqual(['doc-142', 'doc-235']);
    expect(records[0].data).toEqual({
      number: 'ТДЦУ-000001',
      date: '2015-06-29',
      counterpartyId: '4a65ecb6-8b1b-11df-be16-e0cb4ed5f70f',
      contract: 'Договор № 15 от 01.06.2015',
      currency: 'RUB',
      amount: 8186.84,
      debit: 8186.84,
      credit: 0,
      balance: 8186.84,
    });
    expect(records[1].data).toMatchObject({ date: '2015-06-30T16:36:00+03:00', amount: 4100, balance: -4100 });
    expect(records[1].data.contract).toBeUndefined();
  });

  it('reads windows-1251 with ";": a non-breaking-space thousands separator and the version column', async () => {
    const { records, format } = await readAll(csv('settlements-win1251-semicolon.csv'), { type: 'mutualsettlements' });
    expect(format).toEqual({ encoding: 'windows-1251', delimiter: ';' });
    expect(records).toEqual([
      {
        type: 'mutualsettlements',
        id: 'doc-1',
        op: 'upsert',
        version: '2024-02-02T07:15:00.000Z',
        source: { file: csv('settlements-win1251-semicolon.csv'), line: 2 },
        data: { number: 'Акт № 7', date: '2024-02-01', counterpartyId: 'ctr-1', amount: 1500.25, debit: 1500.25, credit: 0, balance: 1500.25 },
      },
    ]);
  });

  it('maps other headers through a mapping merged over the default one', async () => {
    expect(defaultCsvMapping['Наименование'.toLowerCase()]).toBe('name');
    const file = writeTmp('custom.csv', 'Код клиента;Клиент;Пометка удаления\nK-1;ООО Ромашка;да\nK-2;ООО Лютик;нет\n');
    const { records } = await readAll(file, { type: 'user', mapping: { 'Код клиента': 'id', Клиент: 'name' } });
    expect(records.map((r) => [r.id, r.op, r.data.name])).toEqual([
      ['K-1', 'delete', 'ООО Ромашка'],
      ['K-2', 'upsert', 'ООО Лютик'],
    ]);
  });

  it('names file, line and column of a value that is not a number', async () => {
    const file = writeTmp('nan.csv', 'Код;Наименование;Цена\n1;Стол;100\n2;Стул;abc\n');
    const error = await readError(file, { type: 'product' });
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error.exitCode).toBe(65);
    expect(error.message).toBe(`${file}:3:3: column "Цена": not a number: "abc"`);
  });

  it('names the line of a broken quote or a row of the wrong length', async () => {
    const quote = writeTmp('quote.csv', 'Код;Наименование\n1;"Стол\n2;Стул\n');
    expect((await readError(quote, { type: 'product' })).message).toMatch(new RegExp(`^${quote}:\\d+: .*[Qq]uote`));
    const short = writeTmp('short.csv', 'Код;Наименование;Цена\n1;Стол;1\n2;Стул\n');
    expect((await readError(short, { type: 'product' })).message).toMatch(new RegExp(`^${short}:3: `));
  });

  it('refuses a header without an id column, and a bad date', async () => {
    const noId = writeTmp('noid.csv', 'Наименование;Цена\nСтол;1\n');
    expect((await readError(noId, { type: 'product' })).message).toMatch(/:1:1: no id column/);
    const date = writeTmp('date.csv', 'Ид;Дата\n1;31.31.2024\n');
    expect((await readError(date, { type: 'mutualsettlements' })).message).toBe(`${date}:2:2: column "Дата": not a date: "31.31.2024"`);
  });

  it('detects windows-1251 in a CSV written by iconv-lite', async () => {
    const file = writeTmp('cp1251.csv', iconv.encode('Ид;Наименование\n1;Счёт-фактура\n', 'win1251'));
    const { records, format } = await readAll(file, { type: 'product' });
    expect(format.encoding).toBe('windows-1251');
    expect(records[0].data.name).toBe('Счёт-фактура');
  });
});

describe('detectFileKind', () => {
  it('tells CommerceML, CSV and JSON lines apart by content', async () => {
    expect(await detectFileKind(path.resolve('fixtures/1c/irpsv-commerceml/umi-cms/offers.xml'))).toBe('commerceml');
    expect(await detectFileKind(path.resolve('fixtures/1c/carono-yii2-1c-exchange/to.xml'))).toBe('commerceml');
    expect(await detectFileKind(csv('counterparties-utf8-bom-semicolon.csv'))).toBe('csv');
    expect(await detectFileKind(csv('products-win1251-comma.csv'))).toBe('csv');
    expect(await detectFileKind(path.resolve('fixtures/demo/user.jsonl'))).toBe('jsonl');
    expect(await detectFileKind(writeTmp('empty.xml', ''))).toBe('commerceml');
  });

  it('says when a file cannot be read', async () => {
    await expect(detectFileKind(path.join(tmp, 'missing.csv'))).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });
});
