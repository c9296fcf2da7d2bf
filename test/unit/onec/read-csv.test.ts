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

describe('readOneCCsv, column by column', () => {
  it('takes the delimiter used most on the header line, outside quotes, the first of a tie, ";" when there is none', async () => {
    const tab = await readAll(writeTmp('tab.csv', 'Ид\tНаименование\n1\tСтол\n'), { type: 'product', version: '1' });
    expect(tab.format.delimiter).toBe('\t');
    expect(tab.records[0].data).toEqual({ name: 'Стол' });
    const single = await readAll(writeTmp('single.csv', 'Ид\n7\n'), { type: 'product', version: '1' });
    expect(single.format.delimiter).toBe(';');
    expect(single.records.map((r) => r.id)).toEqual(['7']);
    // Commas inside a quoted header do not count: ';' is the delimiter here.
    const quoted = await readAll(writeTmp('quoted.csv', 'Ид;"Цена, руб., с НДС, за шт."\n1;5\n'), { type: 'product', version: '1', mapping: { 'Цена, руб., с НДС, за шт.': 'price' } });
    expect(quoted.format.delimiter).toBe(';');
    expect(quoted.records[0].data).toEqual({ prices: [{ typeId: null, type: null, value: 5, currency: null }] });
    const tie = await readAll(writeTmp('tie.csv', 'Ид;Наименование,Код\n1;Стол,2\n'), { type: 'product', version: '1' });
    expect(tie.format.delimiter).toBe(';');
    expect(tie.records.map((r) => [r.id, r.data])).toEqual([['1', {}]]);
    // Only the header line counts: the rows below may hold more of another character.
    const rows = await readAll(writeTmp('rows.csv', 'Ид,Наименование\r\n1,a;b;c;d\r\n'), { type: 'product', version: '1' });
    expect(rows.format).toEqual({ encoding: 'utf-8', delimiter: ',' });
    expect(rows.records[0].data).toEqual({ name: 'a;b;c;d' });
  });

  it('reads nothing from an empty file or a header alone, and says no format for an empty one', async () => {
    let told = false;
    const empty = writeTmp('empty.csv', '');
    const records: OneCRecord[] = [];
    for await (const record of readOneCCsv(empty, { type: 'user', onFormat: () => (told = true) })) records.push(record);
    expect(records).toEqual([]);
    expect(told).toBe(false);
    expect((await readAll(writeTmp('header.csv', 'Ид;Наименование\n'), { type: 'user' })).records).toEqual([]);
  });

  it('tells the bytes read, up to the size of the file', async () => {
    const file = csv('products-win1251-comma.csv');
    const seen: number[] = [];
    for await (const _ of readOneCCsv(file, { type: 'product', onBytes: (n) => seen.push(n) })) void _;
    expect(seen.at(-1)).toBe(fs.statSync(file).size);
  });

  it('prefers Ид over Код as the id, keeps Код as data, trims cells and skips empty and unmapped ones', async () => {
    const file = writeTmp('ids.csv', 'Код;Ид;Наименование;Комментарий;ИНН\n K-1 ; guid-1 ;  Стол  ;что угодно;\nK-2;;Стул;;7707083893\n');
    const { records } = await readAll(file, { type: 'user', version: '5' });
    expect(records.map((r) => [r.id, r.version, r.op, r.data, r.source.line])).toEqual([
      ['guid-1', '5', 'upsert', { code: 'K-1', name: 'Стол' }, 2],
      ['K-2', '5', 'upsert', { code: 'K-2', name: 'Стул', inn: '7707083893' }, 3],
    ]);
  });

  it('matches headers whatever their case, ё, spaces, dots or underscores, and a mapping the same way', async () => {
    const file = writeTmp('headers.csv', 'ИД;НАИМЕНОВАНИЕ;Полное_Наименование;Электронная.почта;Дата  изменения;Пометка_удаления;КЛИЕНТ ИНН\n1;Стол;ООО Стол;a@b.ru;000042;ложь;7707083893\n');
    const { records } = await readAll(file, { type: 'user', mapping: { 'клиент  инн': 'inn' } });
    expect(records.map((r) => [r.id, r.version, r.op, r.data])).toEqual([['1', '000042', 'upsert', { name: 'Стол', fullName: 'ООО Стол', email: 'a@b.ru', inn: '7707083893' }]]);
  });

  it('marks a row deleted by its Пометка удаления: the record is a delete and says so', async () => {
    const file = writeTmp('deleted.csv', 'Ид;Наименование;Пометка удаления\n1;Стол;Истина\n2;Стул;0\n');
    const { records } = await readAll(file, { type: 'product', version: '1' });
    expect(records.map((r) => [r.id, r.op, r.data])).toEqual([
      ['1', 'delete', { name: 'Стол', deleted: true }],
      ['2', 'upsert', { name: 'Стул' }],
    ]);
  });

  it('turns a date version into canonical UTC read in import.timeZone, and keeps a counter as written', async () => {
    const file = writeTmp('versions.csv', 'Ид;Наименование;Версия\n1;A;02.02.2024 10:15\n2;B;2024-02-02\n3;C;000123\n4;D;v7\n');
    const moscow = await readAll(file, { type: 'user' });
    expect(moscow.records.map((r) => r.version)).toEqual(['2024-02-02T07:15:00.000Z', '2024-02-01T21:00:00.000Z', '000123', 'v7']);
    const utc = await readAll(file, { type: 'user', timeZone: 'UTC' });
    expect(utc.records.map((r) => r.version)).toEqual(['2024-02-02T10:15:00.000Z', '2024-02-02T00:00:00.000Z', '000123', 'v7']);
    // A version column wins over the version given for the file.
    const given = await readAll(file, { type: 'user', version: '2000-01-01T00:00:00.000Z', timeZone: 'UTC' });
    expect(given.records[0].version).toBe('2024-02-02T10:15:00.000Z');
  });

  it('reads a date column in import.timeZone, order ids as a list, and amounts as numbers', async () => {
    const file = writeTmp('docs.csv', 'Ид;Дата;Заказ;Сумма;Валюта\nd1;30.06.2015 16:36;З-1, З-2,З-3;1 000,5;RUB\n');
    const { records } = await readAll(file, { type: 'mutualsettlements', version: '1', timeZone: 'Asia/Kolkata' });
    expect(records[0].data).toEqual({ date: '2015-06-30T16:36:00+05:30', orderIds: ['З-1', 'З-2', 'З-3'], amount: 1000.5, currency: 'RUB' });
  });

  it('puts a product\'s price into prices[0], with its currency or none, and drops a currency without a price', async () => {
    const file = writeTmp('prices.csv', 'Ид;Цена;Валюта;Остаток\n1;10,5;USD;3\n2;7;;\n3;;EUR;\n');
    const { records } = await readAll(file, { type: 'product', version: '1' });
    expect(records.map((r) => r.data)).toEqual([
      { prices: [{ typeId: null, type: null, value: 10.5, currency: 'USD' }], stock: 3 },
      { prices: [{ typeId: null, type: null, value: 7, currency: null }] },
      {},
    ]);
  });

  it('refuses a row without an id, and a user without a name, naming file and line', async () => {
    const noId = writeTmp('rowid.csv', 'Ид;Код;Наименование\n1;;Стол\n;;Стул\n');
    const idError = await readError(noId, { type: 'product', version: '1' });
    expect(idError.message).toBe(`${noId}:3:1: the row has no id (Ид/Код is empty)`);
    expect(idError.code).toBe('BAD_INPUT');
    expect(idError.hint).toBe('fix the row or the header mapping and run again; nothing from this file was imported');
    const noName = writeTmp('noname.csv', 'Ид;Наименование;ИНН\n1;Стол;1\n2;;7707083893\n');
    expect((await readError(noName, { type: 'user', version: '1' })).message).toBe(`${noName}:3:1: the row has no name (Наименование is empty)`);
    // A product needs no name.
    expect((await readAll(writeTmp('product-noname.csv', 'Ид;Наименование\n1;\n'), { type: 'product', version: '1' })).records[0].data).toEqual({});
  });

  it('names the header line and the id columns it needs when there is no id column', async () => {
    const file = writeTmp('noid2.csv', 'Наименование;Цена\nСтол;1\n');
    const error = await readError(file, { type: 'product' });
    expect(error.message).toBe(`${file}:1:1: no id column in the header (Наименование;Цена)`);
    expect(error.hint).toBe('the header needs an Ид, Идентификатор or Код column, or a mapping for the one that holds the id');
    // A mapping can name the id column, or a column for the code.
    expect((await readAll(writeTmp('mapped-code.csv', 'Артикул клиента;Наименование\nA-1;Стол\n'), { type: 'product', version: '1', mapping: { 'Артикул клиента': 'code' } })).records.map((r) => r.id)).toEqual(['A-1']);
  });

  it('wraps a parse error with the file, the line, the hint and the cause', async () => {
    const file = writeTmp('short2.csv', 'Ид;Наименование;Цена\n1;Стол;1\n2;Стул\n');
    const error = await readError(file, { type: 'product', version: '1' });
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message.startsWith(`${file}:3: `)).toBe(true);
    expect(error.hint).toBe('fix the row or the header mapping and run again; nothing from this file was imported');
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('readOneCCsv, the edges', () => {
  it('reads the header line alone for the delimiter, ending at a bare LF too, and takes the most used of three', async () => {
    const lf = await readAll(writeTmp('lf.csv', 'Ид,Наименование\n1,a;b;c;d\n'), { type: 'product', version: '1' });
    expect(lf.format.delimiter).toBe(',');
    const three = await readAll(writeTmp('three.csv', 'Ид,Наименование,Цена;x\ty\n1,Стол,5;x\ty\n'), { type: 'product', version: '1' });
    expect(three.format.delimiter).toBe(',');
    // The last column is named "Цена;x<tab>y", which maps to nothing.
    expect(three.records[0].data).toEqual({ name: 'Стол' });
  });

  it('skips blank lines between rows', async () => {
    const { records } = await readAll(writeTmp('blank.csv', 'Ид;Наименование\n1;A\n\n2;B\n'), { type: 'product', version: '1' });
    expect(records.map((r) => [r.id, r.source.line])).toEqual([['1', 2], ['2', 4]]);
  });

  it('refuses a quote inside an unquoted field', async () => {
    const file = writeTmp('inner-quote.csv', 'Ид;Наименование\n1;Сто"л\n');
    const error = await readError(file, { type: 'product', version: '1' });
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message.startsWith(`${file}:2: `)).toBe(true);
  });

  it('stops at invalid UTF-8 further into the file, naming its line', async () => {
    const head = Buffer.from(`Ид;Наименование\n${'1;Стол\n'.repeat(40_000)}`, 'utf8');
    const file = writeTmp('bad-utf8.csv', Buffer.concat([head, Buffer.from('2;'), Buffer.from([0xc4, 0xe0]), Buffer.from('\n')]));
    const error = await readError(file, { type: 'product', version: '1' });
    expect(error.message).toBe(`${file}:40002:3: invalid UTF-8 byte 0xc4`);
  });

  it('names a column by its header as written, without the spaces around it, and gives the hint', async () => {
    const file = writeTmp('spaced.csv', 'Ид; Цена \n1;дорого\n');
    const error = await readError(file, { type: 'product', version: '1' });
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toBe(`${file}:2:2: column "Цена": not a number: "дорого"`);
    expect(error.hint).toBe('fix the row or the header mapping and run again; nothing from this file was imported');
  });

  it('gives the error codes of a header without an id and a user without a name', async () => {
    expect((await readError(writeTmp('noid3.csv', 'Наименование\nСтол\n'), { type: 'product' })).code).toBe('BAD_INPUT');
    const noName = await readError(writeTmp('noname2.csv', 'Ид;Наименование\n1;\n'), { type: 'user', version: '1' });
    expect(noName.code).toBe('BAD_INPUT');
    expect(noName.hint).toBe('fix the row or the header mapping and run again; nothing from this file was imported');
  });

  it('keeps a currency column of another entity only when the row has one', async () => {
    const { records } = await readAll(writeTmp('currency.csv', 'Ид;Сумма;Валюта\nd1;5;RUB\nd2;6;\n'), { type: 'mutualsettlements', version: '1' });
    expect(records[0].data).toStrictEqual({ amount: 5, currency: 'RUB' });
    expect(records[1].data).toStrictEqual({ amount: 6 });
  });

  it('drops empty order ids, and treats only the version column as a version', async () => {
    const file = writeTmp('orders.csv', 'Ид;Наименование;Заказ;Версия\n1;01.02.2024;З-1,;1.2.3\n2;2024-01-01 итог;;x2024-01-01\n3;B;;2024-01-1\n');
    const { records } = await readAll(file, { type: 'mutualsettlements' });
    expect(records.map((r) => [r.id, r.version, r.data])).toEqual([
      ['1', '1.2.3', { name: '01.02.2024', orderIds: ['З-1'] }],
      ['2', 'x2024-01-01', { name: '2024-01-01 итог' }],
      ['3', '2024-01-1', { name: 'B' }],
    ]);
  });
});
