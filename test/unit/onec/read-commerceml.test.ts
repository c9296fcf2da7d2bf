import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ExchangeError } from '../../../src/errors.js';
import { validateEnvelope } from '../../../src/messages/envelope.js';
import { readCommerceMl, type CommerceMlOptions } from '../../../src/onec/read-commerceml.js';
import type { CommerceMlHeader, CommerceMlPackage, OneCRecord } from '../../../src/onec/one-c-record.js';
import { expectedCommerceMlCounts } from '../../support/commerceml-counts.js';

const FIXTURES = path.resolve('fixtures/1c');
const fixture = (name: string) => path.join(FIXTURES, name);

async function readAll(file: string, options: CommerceMlOptions = {}) {
  const records: OneCRecord[] = [];
  let header: CommerceMlHeader | undefined;
  const packages: CommerceMlPackage[] = [];
  for await (const record of readCommerceMl(file, { ...options, onHeader: (h) => (header = h), onPackage: (p) => packages.push(p) })) {
    records.push(record);
  }
  return { records, header: header!, packages, byId: (id: string) => records.find((r) => r.id === id)! };
}

async function readError(file: string): Promise<ExchangeError> {
  try {
    for await (const _ of readCommerceMl(file)) void _;
  } catch (error) {
    return error as ExchangeError;
  }
  throw new Error(`${file} was read without error`);
}

function xmlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? xmlFiles(full) : entry.name.endsWith('.xml') ? [full] : [];
  });
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onec-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const writeTmp = (name: string, content: string | Buffer) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
};

describe('every real CommerceML file', () => {
  const files = xmlFiles(FIXTURES);

  it('is copied with its SOURCES line', () => {
    const sources = fs.readFileSync(fixture('SOURCES.tsv'), 'utf8').trim().split('\n').map((line) => line.split('\t')[0]);
    expect(files.map((f) => path.relative(FIXTURES, f)).sort()).toEqual([...sources].sort());
    expect(files.length).toBe(38);
  });

  it('reads without error, and every record is a valid envelope', async () => {
    const versions = new Set<string>();
    for (const file of files) {
      const { records, header } = await readAll(file);
      versions.add(header.schemaVersion!);
      // As many records of each type as the file has elements for them, counted without the reader.
      const got = { product: 0, user: 0, mutualsettlements: 0 };
      for (const record of records) got[record.type as keyof typeof got]++;
      expect({ file: path.relative(FIXTURES, file), ...got }).toEqual({ file: path.relative(FIXTURES, file), ...expectedCommerceMlCounts(file) });
      for (const record of records) {
        const result = validateEnvelope({ type: record.type, op: record.op, id: record.id, version: record.version, source: '1c', data: record.data });
        expect(result.ok ? 'ok' : `${file} ${record.id}: ${result.reason}`).toBe('ok');
      }
    }
    expect([...versions].sort()).toEqual(['2.03', '2.04', '2.05', '2.07', '2.09', '3.1']);
  });
});

describe('CommerceML 2.03', () => {
  it('reads orders: one mutualsettlements per Документ and its counterparty as a user', async () => {
    const { records, header, byId } = await readAll(fixture('irpsv-commerceml/off-doc-1c/orders.xml'));
    expect(header).toMatchObject({ schemaVersion: '2.03', version: '2007-10-30T15:13:34.000Z', versionFrom: 'ДатаФормирования', encoding: 'utf-8' });
    expect(records.map((r) => `${r.type}:${r.id}`)).toEqual(['user:1#admin# admin', 'mutualsettlements:36', 'mutualsettlements:92', 'mutualsettlements:93']);
    expect(byId('36')).toMatchObject({
      op: 'upsert',
      version: '2007-10-30T15:13:34.000Z',
      source: { line: 3 },
      data: { number: '36', date: '2007-10-30T15:19:27+03:00', counterpartyId: '1#admin# admin', currency: 'руб', amount: 6734.47 },
    });
    expect(byId('36').data.lines).toEqual([
      { productId: 'ORDER_DELIVERY', name: 'Доставка заказа', quantity: 1, price: 340, amount: 340, unit: 'шт' },
      { productId: 'dee6e19a-55bc-11d9-848a-00112f43529a', name: 'Телевизор "JVC"', quantity: 1, price: 6394.47, amount: 6394.47, unit: 'шт' },
    ]);
    expect(byId('92').data).toMatchObject({ number: '92', date: '2015-08-12T13:38:17+03:00' });
    expect(byId('92').data.counterpartyId).toBeUndefined();
    expect(byId('1#admin# admin').data).toMatchObject({ name: 'admin', fullName: 'admin', address: 'ггг' });
  });

  it('reads a windows-1251 document declared in the prolog', async () => {
    const { records, header } = await readAll(fixture('carono-yii2-1c-exchange/to.xml'));
    expect(header).toMatchObject({ schemaVersion: '2.03', encoding: 'windows-1251' });
    const document = records.find((r) => r.type === 'mutualsettlements')!;
    expect(records.filter((r) => r.type === 'user')).toHaveLength(1);
    expect(document.data.counterpartyId).toBe(records.find((r) => r.type === 'user')!.id);
    expect(typeof document.data.amount).toBe('number');
    expect(JSON.stringify(document.data)).toMatch(/[а-яА-Я]/);
  });
});

describe('CommerceML 2.04', () => {
  it('reads catalog items that are variants, with parentId and characteristics', async () => {
    const { records, header, packages, byId } = await readAll(fixture('irpsv-commerceml/off-doc-1c/import.xml'));
    expect(header.schemaVersion).toBe('2.04');
    expect(packages.map((p) => [p.element, p.type, p.onlyChanges])).toEqual([
      ['Классификатор', undefined, undefined],
      ['Каталог', 'product', false],
    ]);
    expect(records).toHaveLength(4);
    const table = byId('05e26d70-01e4-11dc-a411-00055d80a2d1#05e26d76-01e4-11dc-a411-00055d80a2d1');
    expect(table.partial).toBeUndefined();
    expect(table.data).toMatchObject({
      name: 'Стол обеденный',
      unit: 'Штука',
      groupIds: ['05e26d6f-01e4-11dc-a411-00055d80a2d1'],
      parentId: '05e26d70-01e4-11dc-a411-00055d80a2d1',
      characteristics: [{ name: 'Цвет', value: 'Белый' }],
      deleted: false,
    });
  });

  it('reads offers: named price types, price units, stock from <Количество>', async () => {
    const { records, packages } = await readAll(fixture('irpsv-commerceml/off-doc-1c/offers.xml'));
    expect(packages[0]).toMatchObject({ element: 'ПакетПредложений', type: 'product', onlyChanges: false });
    expect(records).toHaveLength(2);
    expect(records.every((r) => r.partial === true)).toBe(true);
    expect(records[0].data.prices).toEqual([
      { typeId: 'bd72d8fc-55bc-11d9-848a-00112f43529a', type: 'Закупочная', value: 4, currency: 'USD', unit: 'шт' },
      { typeId: 'bd72d8fd-55bc-11d9-848a-00112f43529a', type: 'Плановая', value: 6, currency: 'USD', unit: 'шт' },
      { typeId: 'cbcf493b-55bc-11d9-848a-00112f43529a', type: 'Розничная', value: 7, currency: 'руб', unit: 'шт' },
      { typeId: 'cbcf495d-55bc-11d9-848a-00112f43529a', type: 'Оптовая', value: 5, currency: 'USD', unit: 'шт' },
    ]);
    expect(records[0].data.stock).toBe(0);
  });

  it('reads a file with a BOM (umi-cms offers) like one without', async () => {
    const file = fixture('irpsv-commerceml/umi-cms/offers.xml');
    expect(fs.readFileSync(file).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const withBom = await readAll(file);
    const withoutBom = await readAll(writeTmp('umi-offers-nobom.xml', fs.readFileSync(file).subarray(3)));
    expect(withBom.records).toHaveLength(14);
    expect(withoutBom.records.map((r) => r.data)).toEqual(withBom.records.map((r) => r.data));
    expect(withBom.byId('bd72d927-55bc-11d9-848a-00112f43529a').data).toMatchObject({ name: 'Комбайн кухонный BINATONE FP 67', stock: 26 });
    expect((withBom.byId('bd72d927-55bc-11d9-848a-00112f43529a').data.prices as unknown[])[0]).toEqual({
      typeId: 'fb1fb868-f345-11e1-8efb-00155d343e29',
      type: 'offers 31.08',
      value: 4293,
      currency: 'RUB',
      unit: 'шт',
    });
  });

  it('normalizes a ДатаФормирования with an unpadded hour (cs-cart)', async () => {
    const { header, records } = await readAll(fixture('irpsv-commerceml/cs-cart/import.xml'));
    expect(header.version).toBe('2014-05-31T20:36:33.000Z'); // Moscow was UTC+4 in 2014
    expect(records).toHaveLength(27);
  });
});

describe('CommerceML 2.05', () => {
  it('reads a variant offer next to its plain offer', async () => {
    const { records, byId } = await readAll(fixture('irpsv-commerceml/ready-script/offers.xml'));
    expect(records.map((r) => r.id)).toEqual(['421a531a-995e-11e3-9e81-00241d337dcd', '421a531a-995e-11e3-9e81-00241d337dcd#fd3fdddb-9964-11e3-9e81-00241d337dcd']);
    expect(byId('421a531a-995e-11e3-9e81-00241d337dcd').data.parentId).toBeUndefined();
    expect(byId('421a531a-995e-11e3-9e81-00241d337dcd#fd3fdddb-9964-11e3-9e81-00241d337dcd').data).toMatchObject({
      name: 'Платье 2 (39, Красный)',
      parentId: '421a531a-995e-11e3-9e81-00241d337dcd',
      characteristics: [
        { name: 'Размер', value: '39' },
        { name: 'Цвет', value: 'Красный' },
      ],
      stock: 9,
      prices: [{ typeId: '421a530f-995e-11e3-9e81-00241d337dcd', value: 12356, currency: 'руб', unit: 'шт' }],
    });
  });

  it('reads a windows-1251 Bitrix order export; an empty counterparty name falls back to its id', async () => {
    const { records, header, byId } = await readAll(fixture('dobromyslov-commerceml-parser/bitrix-query-response-full.xml'));
    expect(header).toMatchObject({ schemaVersion: '2.05', encoding: 'windows-1251', version: '2021-02-12T14:03:19.000Z' });
    expect(records.filter((r) => r.type === 'mutualsettlements')).toHaveLength(2);
    expect(byId('132').data).toMatchObject({ number: '132', amount: 231.74, counterpartyId: '38#catalog_exchange#', date: '2021-02-11T18:45:21+03:00' });
    expect((byId('132').data.lines as unknown[])[0]).toMatchObject({ name: 'Hello Kitty toothbrush for 3~6 years old,2pcs', price: 231.74, quantity: 1 });
    expect(byId('38#catalog_exchange#').data.name).toBe('38#catalog_exchange#');
  });

  it('reads a file with no records', async () => {
    const { records, header } = await readAll(fixture('dobromyslov-commerceml-parser/bitrix-query-response-empty.xml'));
    expect(records).toEqual([]);
    expect(header.schemaVersion).toBe('2.05');
  });
});

describe('CommerceML 2.07 (urn:1C.ru:commerceml_2)', () => {
  it('reads a catalog; Статус="Удален" gives a delete', async () => {
    const { records, header, byId } = await readAll(fixture('dobromyslov-commerceml-parser/import0_1.xml'));
    expect(header).toMatchObject({ schemaVersion: '2.07', namespace: 'urn:1C.ru:commerceml_2' });
    expect(records).toHaveLength(36);
    expect(records.filter((r) => r.op === 'delete').map((r) => r.id)).toEqual(['b631c9c1-49de-11e9-80c9-0cc47ab29cd1']);
    expect(byId('bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1')).toMatchObject({
      source: { line: 150 },
      data: { name: 'Портативный коврик Portable 140x200x1 см, Деревянные лошадки', sku: 'PM-421-WP', barcode: '8809288404089', unit: 'Штука' },
    });
    expect((byId('bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1').data.properties as Record<string, string>)['a3e9701f-2483-11e9-80c9-0cc47ab29cd1']).toBe('Деревянные лошадки');
  });

  it('reads stock from <Количество> and per warehouse from <Склад КоличествоНаСкладе>', async () => {
    const { records, byId } = await readAll(fixture('dobromyslov-commerceml-parser/offers0_1.xml'));
    expect(records).toHaveLength(44);
    expect(byId('bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1').data).toMatchObject({
      sku: 'PM-421-WP',
      stock: 377,
      stockByWarehouse: [
        { warehouseId: '6abdb0b5-18fd-11e7-80c2-0cc47ab29cd1', quantity: 1 },
        { warehouseId: 'd2a52d49-19c9-11e7-80c2-0cc47ab29cd1', quantity: 0 },
        { warehouseId: 'dd306af1-19c9-11e7-80c2-0cc47ab29cd1', quantity: 376 },
      ],
      prices: [{ typeId: '279b6812-740b-11e8-80c8-0cc47ab29cd1', value: 100, currency: 'RUB', unit: 'PCE' }],
    });
  });

  it('reads nested groups into groupIds (283 products)', async () => {
    const { records } = await readAll(fixture('dobromyslov-commerceml-parser/import0_1_with_nested_groups.xml'));
    expect(records).toHaveLength(283);
    // Each Товар's own Группы/Ид list, read from the file with a regular expression, not with the reader.
    const text = fs.readFileSync(fixture('dobromyslov-commerceml-parser/import0_1_with_nested_groups.xml'), 'utf8');
    const catalog = text.slice(text.indexOf('<Товары>'));
    const expected = [...catalog.matchAll(/<Товар>\s*<Ид>([^<]+)<\/Ид>([\s\S]*?)<\/Товар>/g)].map(([, id, body]) => {
      const groups = /<Группы>([\s\S]*?)<\/Группы>/.exec(body);
      return [id, groups ? [...groups[1].matchAll(/<Ид>([^<]+)<\/Ид>/g)].map((m) => m[1]) : []];
    });
    expect(expected).toHaveLength(283);
    expect(records.map((r) => [r.id, r.data.groupIds ?? []])).toEqual(expected);
    // The nested classifier groups are the groups products name: at least two distinct ones here.
    expect(new Set(expected.flatMap(([, ids]) => ids as string[])).size).toBeGreaterThan(1);
  });
});

describe('CommerceML 2.09', () => {
  it('reads counterparties: names, INN, contacts, address, bank accounts', async () => {
    const { records, header, packages, byId } = await readAll(fixture('argentcrusade-commerceml/contractors-example.xml'));
    expect(header.schemaVersion).toBe('2.09');
    expect(packages).toMatchObject([{ element: 'Контрагенты', type: 'user', onlyChanges: true }]);
    expect(records.map((r) => r.id)).toEqual([
      'd9510b52-e154-11db-80b9-00c09f6bedaa',
      '4141d5ec-e2a6-11db-95d9-505054503030',
      '021e0e3f-e329-11db-95d9-505054503030',
      'c5b29133-e35a-11db-95d9-505054503030',
    ]);
    expect(byId('021e0e3f-e329-11db-95d9-505054503030')).toMatchObject({
      type: 'user',
      op: 'upsert',
      version: '2015-06-26T15:28:11.000Z',
      data: {
        name: 'ТД Уют',
        fullName: 'ТОО "ТД Уют"',
        inn: '181620360057',
        email: 'Uyt@komp.kz',
        phone: '+7 (3272) 25-39-39',
        address: '005897, Города Республиканского значения: Алматы, Тохтарова, дом № 18',
        bankAccounts: [{ number: '798321', bank: 'Филиал ОАО Банк ТуранАлем', bic: '190701310', correspondentAccount: '21847800' }],
        versionNumber: 'AAAAAQAAAAk=',
      },
    });
    expect(byId('4141d5ec-e2a6-11db-95d9-505054503030').data.kpp).toBeUndefined();
  });

  it('reads documents; a counterparty named by two documents is one user', async () => {
    const { records, byId } = await readAll(fixture('argentcrusade-commerceml/documents-example.xml'));
    expect(records.map((r) => `${r.type}:${r.id}`)).toEqual(['user:4a65ecb6-8b1b-11df-be16-e0cb4ed5f70f', 'mutualsettlements:142', 'mutualsettlements:235']);
    expect(byId('142').data).toMatchObject({ number: '142', date: '2015-06-29T15:39:10+03:00', currency: 'RUB', amount: 8186.84, counterpartyId: '4a65ecb6-8b1b-11df-be16-e0cb4ed5f70f' });
    expect((byId('4a65ecb6-8b1b-11df-be16-e0cb4ed5f70f').data.bankAccounts as unknown[]).length).toBe(2);
  });

  it('reads split packages: offers with names only, prices.xml and rests.xml (Остатки/Остаток/Склад)', async () => {
    const id = '26b0dc1e-4d66-11e4-99fe-003048c64779';
    const offers = await readAll(fixture('gillbeits-commerceml/offers___7f304edc-2527-4d3d-b058-6e4ee53de2e0.xml'));
    const prices = await readAll(fixture('gillbeits-commerceml/prices___d66a6b51-ce9c-4e7a-8c7c-25079721107f.xml'));
    const rests = await readAll(fixture('gillbeits-commerceml/rests___1af6e7b8-a026-4690-9752-1c9d64cb914d.xml'));
    for (const { records } of [offers, prices, rests]) expect(records).toHaveLength(978);
    expect(offers.byId(id).data).toEqual({ name: 'Дезодорант для мужчин Чистая линия Фито защита без белых следов 150мл', versionNumber: 'AAAAAADjIlA=' });
    expect(prices.byId(id).data).toEqual({ prices: [{ typeId: '4d968229-47ba-11e4-a628-003048c64779', type: null, value: 181, currency: 'RUB' }] });
    expect(rests.byId(id)).toMatchObject({ partial: true, data: { stock: 1, stockByWarehouse: [{ warehouseId: '5d1caeb1-44b2-11e4-a628-003048c64779', quantity: 1 }] } });
  });

  it('names price types defined in an earlier file of the exchange (Классификатор/ТипыЦен)', async () => {
    const priceTypes = new Map();
    await readAll(fixture('gillbeits-commerceml/import___b815e2db-7a65-4265-9241-5f0c4f0565a7.xml'), { priceTypes });
    const prices = await readAll(fixture('gillbeits-commerceml/prices___d66a6b51-ce9c-4e7a-8c7c-25079721107f.xml'), { priceTypes });
    // The name the classifier file gives this ТипЦены (import___b815e2db….xml, line 23611).
    expect(prices.records[0].data.prices).toEqual([{ typeId: '4d968229-47ba-11e4-a628-003048c64779', type: 'Типовое соглашение Интернет-МХТ', value: expect.any(Number), currency: 'RUB' }]);
    expect(prices.byId('26b0dc1e-4d66-11e4-99fe-003048c64779').data.prices).toEqual([
      { typeId: '4d968229-47ba-11e4-a628-003048c64779', type: 'Типовое соглашение Интернет-МХТ', value: 181, currency: 'RUB' },
    ]);
  });
});

describe('CommerceML 3.1 (urn:1C.ru:commerceml_3)', () => {
  const goods = (name: string) => fixture(`irpsv-commerceml/bitrix-module-6-cml3.1/goods/1/${name}`);

  it('reads import, offers, prices and rests of one exchange', async () => {
    const priceTypes = new Map();
    const classifier = await readAll(fixture('irpsv-commerceml/bitrix-module-6-cml3.1/import.xml'), { priceTypes });
    expect(classifier.header).toMatchObject({ schemaVersion: '3.1', namespace: 'urn:1C.ru:commerceml_3' });
    expect(priceTypes.size).toBe(8);

    const catalog = await readAll(goods('import.xml'), { priceTypes });
    expect(catalog.records).toHaveLength(21);
    expect(catalog.byId('afc7eb78-8172-11e7-948c-00155d020201').data).toMatchObject({
      name: 'Parallels Desktop for Mac Pro Lic',
      groupIds: ['94dcb60e-616e-498e-9332-e9991143bbf6'],
      versionNumber: 'AAABVwAAAAA=49842',
    });

    const offers = await readAll(goods('offers.xml'), { priceTypes });
    expect(offers.records).toHaveLength(86);
    const deleted = offers.records.filter((r) => r.op === 'delete');
    expect(deleted).toHaveLength(6);
    expect(deleted[0]).toMatchObject({
      id: '56ece96f-ae16-11e5-9468-00155d020201#d708d39f-168c-11e6-946e-00155d020201',
      data: { parentId: '56ece96f-ae16-11e5-9468-00155d020201', deleted: true },
    });

    const prices = await readAll(goods('prices.xml'), { priceTypes });
    const variant = '235ccc6d-ab81-11e4-944a-00155d020201#a5abd77f-93f6-11e5-9468-00155d020201';
    expect(prices.byId(variant)).toMatchObject({
      partial: true,
      data: { parentId: '235ccc6d-ab81-11e4-944a-00155d020201', prices: [{ typeId: 'aef2c177-1862-11de-9d9d-001a4d4b12d9', type: 'Отпускная цена', value: 2042.66, currency: 'руб' }] },
    });

    const rests = await readAll(goods('rests.xml'), { priceTypes });
    expect(rests.records).toHaveLength(86);
    expect(rests.byId(variant).data.stockByWarehouse).toHaveLength(12);
    expect(rests.records.every((r) => typeof r.data.stock === 'number')).toBe(true);
  });

  it('reads Контейнер/Документ', async () => {
    const { records, byId } = await readAll(fixture('irpsv-commerceml/bitrix-module-6-cml3.1/documents/1/documents.xml'));
    expect(records.filter((r) => r.type === 'mutualsettlements')).toHaveLength(20);
    expect(records.filter((r) => r.type === 'user')).toHaveLength(8);
    expect(byId('320').data).toMatchObject({ number: '320', date: '2017-08-03T18:46:55+03:00', amount: 1320, currency: 'руб', counterpartyId: 'f1eeedab-5cfb-11df-a14c-00155d3ebc00' });
  });

  it('sums stock over warehouses (remainders-example)', async () => {
    const { records } = await readAll(fixture('argentcrusade-commerceml/remainders-example.xml'));
    // From the file: 0+0+0+0+4+3+6 and 0+0+0+7+29+9+12 over seven warehouses each.
    expect(records.map((r) => [r.id, r.data.stock])).toEqual([
      ['6c4e0c4b-6c2c-11e7-81d6-38d547224d22', 13],
      ['6c4e0c4d-6c2c-11e7-81d6-38d547224d22', 57],
    ]);
    expect((records[0].data.stockByWarehouse as unknown[]).length).toBe(7);
    expect(records[1].data.stockByWarehouse).toEqual([
      { warehouseId: '40a509b5-2a20-11e7-8ec8-38d547224d22', quantity: 0 },
      { warehouseId: '7417c61e-dd47-11e6-92de-38d547224d22', quantity: 0 },
      { warehouseId: '749f81f9-c5a3-11e6-a4cf-38d547224d22', quantity: 0 },
      { warehouseId: '9bf5be08-af08-11e7-a56d-38d547224d22', quantity: 7 },
      { warehouseId: 'a3d8885d-d931-11e6-a8e7-38d547224d22', quantity: 29 },
      { warehouseId: 'ebab87fa-bcf4-11e6-b36c-38d547224d22', quantity: 9 },
      { warehouseId: 'c7ceb2f4-833b-11e7-b922-38d547224d22', quantity: 12 },
    ]);
  });

  it('reads only the types asked for', async () => {
    const file = fixture('irpsv-commerceml/bitrix-module-6-cml3.1/documents/1/documents.xml');
    const { records } = await readAll(file, { types: ['mutualsettlements'] });
    expect(new Set(records.map((r) => r.type))).toEqual(new Set(['mutualsettlements']));
    expect((await readAll(file, { types: ['product'] })).records).toEqual([]);
  });
});

describe('encodings, prefixes and chunking', () => {
  const source = fixture('irpsv-commerceml/off-doc-1c/import.xml');

  it('detects windows-1251 in a file whose prolog claims UTF-8', async () => {
    const file = writeTmp('cp1251-claims-utf8.xml', iconv.encode(fs.readFileSync(source, 'utf8'), 'win1251'));
    const original = await readAll(source);
    const converted = await readAll(file);
    expect(converted.header.encoding).toBe('windows-1251');
    expect(converted.records.map((r) => r.data)).toEqual(original.records.map((r) => r.data));
  });

  it('reads windows-1251 declared in the prolog, and a file without a prolog', async () => {
    const text = fs.readFileSync(source, 'utf8');
    const declared = writeTmp('cp1251-declared.xml', iconv.encode(text.replace('encoding="UTF-8"', 'encoding="windows-1251"'), 'win1251'));
    const noProlog = writeTmp('no-prolog.xml', text.replace(/^<\?xml[^>]*>\s*/, ''));
    const original = await readAll(source);
    expect((await readAll(declared)).header.encoding).toBe('windows-1251');
    expect((await readAll(declared)).records.map((r) => r.data)).toEqual(original.records.map((r) => r.data));
    expect((await readAll(noProlog)).records.map((r) => r.data)).toEqual(original.records.map((r) => r.data));
  });

  it('rejects an encoding it does not know', async () => {
    const file = writeTmp('klingon.xml', fs.readFileSync(source, 'utf8').replace('encoding="UTF-8"', 'encoding="x-klingon"'));
    const error = await readError(file);
    expect(error.message).toBe(`${file}:1:1: unknown encoding "x-klingon" declared in the XML prolog`);
  });

  it('reads namespace-prefixed elements (urn:1C.ru:commerceml_210)', async () => {
    const offers = fixture('irpsv-commerceml/off-doc-1c/offers.xml');
    const prefixed = fs
      .readFileSync(offers, 'utf8')
      .replace(/<(\/?)([^\s>?!/]+)/g, '<$1cml:$2')
      .replace('<cml:КоммерческаяИнформация', '<cml:КоммерческаяИнформация xmlns:cml="urn:1C.ru:commerceml_210"');
    const { records, header } = await readAll(writeTmp('prefixed.xml', prefixed));
    expect(header.namespace).toBe('urn:1C.ru:commerceml_210');
    expect(records.map((r) => r.data)).toEqual((await readAll(offers)).records.map((r) => r.data));
  });

  it('gives the same records and lines when every element is cut across chunks', async () => {
    const file = fixture('irpsv-commerceml/cs-cart/import.xml');
    const whole = await readAll(file);
    const tiny = await readAll(file, { chunkSize: 7 });
    expect(tiny.records).toEqual(whole.records);
  });

  it('uses the file mtime as the version when ДатаФормирования is missing', async () => {
    const file = writeTmp('no-date.xml', fs.readFileSync(source, 'utf8').replace(/ ДатаФормирования="[^"]*"/, ''));
    const when = new Date('2024-03-01T12:00:00.000Z');
    fs.utimesSync(file, when, when);
    const { header, records } = await readAll(file);
    expect(header).toMatchObject({ version: '2024-03-01T12:00:00.000Z', versionFrom: 'mtime' });
    expect(records.every((r) => r.version === '2024-03-01T12:00:00.000Z')).toBe(true);
  });
});

describe('malformed input', () => {
  const lines = (...body: string[]) => ['<?xml version="1.0" encoding="UTF-8"?>', '<КоммерческаяИнформация ВерсияСхемы="2.04" ДатаФормирования="2024-01-01T00:00:00">', ...body].join('\n');

  it('names file, line, column and element for a mismatched end tag', async () => {
    const file = writeTmp(
      'mismatch.xml',
      lines('<Каталог>', '<Товары>', '<Товар>', '  <Ид>1</Ид>', '  <Наименование>Стол</Ид>', '</Товар>', '</Товары>', '</Каталог>', '</КоммерческаяИнформация>'),
    );
    const error = await readError(file);
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error.code).toBe('BAD_INPUT');
    expect(error.exitCode).toBe(65);
    expect(error.hint).toMatch(/nothing from this file/);
    expect(error.message).toBe(
      `${file}:7:21: end tag </Ид> where </Наименование> was expected in КоммерческаяИнформация/Каталог/Товары/Товар/Наименование`,
    );
  });

  it('names the element for a truncated file', async () => {
    const file = writeTmp('truncated.xml', lines('<Каталог>', '<Товары>', '<Товар>', '  <Ид>1</Ид>'));
    const error = await readError(file);
    expect(error.message).toBe(`${file}:6:13: unexpected end of file: <Товар> is not closed in КоммерческаяИнформация/Каталог/Товары/Товар`);
  });

  it('reports an unterminated attribute quote and a stray "<"', async () => {
    const file = writeTmp('quote.xml', lines('<Каталог СодержитТолькоИзменения="false>', '<Товары/>', '</Каталог>', '</КоммерческаяИнформация>'));
    expect((await readError(file)).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:1: "<" inside the tag that starts at 3:1`));
  });

  it('reports a value that is not a number at the element', async () => {
    const file = writeTmp(
      'nan.xml',
      lines('<ПакетПредложений>', '<Предложения>', '<Предложение><Ид>1</Ид><Количество>много</Количество></Предложение>', '</Предложения>', '</ПакетПредложений>', '</КоммерческаяИнформация>'),
    );
    expect((await readError(file)).message).toBe(`${file}:5:1: not a number: "много" in КоммерческаяИнформация/ПакетПредложений/Предложения/Предложение`);
  });

  it('reports invalid UTF-8 after the start of a UTF-8 file with its line', async () => {
    const head = Buffer.from(lines('<Каталог>', '<Товары>', '<Товар><Ид>1</Ид><Наименование>'), 'utf8');
    const padding = Buffer.from(`${'x'.repeat(300_000)}\n`, 'utf8');
    const file = writeTmp('bad-utf8.xml', Buffer.concat([head, padding, Buffer.from([0xc4, 0xe0]), Buffer.from('</Наименование></Товар></Товары></Каталог></КоммерческаяИнформация>')]));
    expect((await readError(file)).message).toBe(`${file}:6:1: invalid UTF-8 byte 0xc4`);
  });

  it('refuses a file that is not CommerceML', async () => {
    const file = writeTmp('other.xml', '<?xml version="1.0"?>\n<root><a/></root>');
    expect((await readError(file)).message).toBe(`${file}:2:1: not a CommerceML file: the root element is <root>, not <КоммерческаяИнформация>`);
  });

  it('refuses text after the root element', async () => {
    const file = writeTmp('after.xml', `${lines('</КоммерческаяИнформация>')}\ngarbage`);
    expect((await readError(file)).message).toBe(`${file}:4:1: text after the root element`);
  });
});
