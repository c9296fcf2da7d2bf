import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { ExchangeError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';
import { oneCODataProvider, type OneCODataSettings } from '../../src/sync/providers/one-c-odata.js';
import type { ProviderContext, SyncPage } from '../../src/sync/sync-provider.js';
import { OneCODataServer, type OneCEntity } from '../support/one-c-odata-server.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/1c-odata');
const realValue = (file: string): OneCEntity[] => JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')).value as OneCEntity[];
const realEntity = (file: string): OneCEntity => {
  const { ['odata.metadata']: _metadata, ...entity } = JSON.parse(readFileSync(path.join(fixtures, file), 'utf8')) as OneCEntity;
  return entity as OneCEntity;
};

const server = new OneCODataServer();

/** A clock that moves one second per reading, from a fixed instant: each page's version is known in advance. */
function context(): ProviderContext {
  let tick = 0;
  return {
    config: configSchema.parse({}),
    reporter: silentReporter,
    recordStore: {} as RecordStore,
    now: () => new Date(Date.UTC(2026, 10, 22, 10, 0, tick++)),
  };
}

function settings(overrides: Partial<OneCODataSettings>): OneCODataSettings {
  return oneCODataProvider.settings.parse({ url: server.url, user: server.user, password: server.password, entity: 'Catalog_Номенклатура', type: 'product', mapping: { name: 'Description', sku: 'Артикул' }, ...overrides });
}

async function pull(cursor: string | null, options: Partial<OneCODataSettings>): Promise<SyncPage[]> {
  const pages: SyncPage[] = [];
  for await (const page of oneCODataProvider.pull(cursor, settings(options), context())) pages.push(page);
  return pages;
}

async function pullError(cursor: string | null, options: Partial<OneCODataSettings>, pages: SyncPage[] = []): Promise<ExchangeError> {
  try {
    for await (const page of oneCODataProvider.pull(cursor, settings(options), context())) pages.push(page);
  } catch (error) {
    expect(error).toBeInstanceOf(ExchangeError);
    return error as ExchangeError;
  }
  throw new Error('the pull did not fail');
}

beforeAll(async () => { await server.start(); });
afterAll(async () => { await server.stop(); });
afterEach(() => {
  server.requests.length = 0;
  server.failNext = [];
  server.publish('Catalog_Номенклатура', realValue('Catalog_Nomenklatura_collection.json'));
  server.publish('Document_ПриходныйОрдер', realValue('Document_PrihodnyOrder_collection.json'));
  server.publish('Document_Контракт', realValue('Document_Kontrakt_collection.json'));
  server.publish('Catalog_Контрагенты', [realEntity('Catalog_Kontragenty_single.json')]);
});
beforeAll(() => {
  server.publish('Catalog_Номенклатура', realValue('Catalog_Nomenklatura_collection.json'));
  server.publish('Document_ПриходныйОрдер', realValue('Document_PrihodnyOrder_collection.json'));
  server.publish('Document_Контракт', realValue('Document_Kontrakt_collection.json'));
  server.publish('Catalog_Контрагенты', [realEntity('Catalog_Kontragenty_single.json')]);
});

describe('1c-odata: a catalog read whole in $top/$skip pages', () => {
  it('reads the real Catalog_Номенклатура in pages of 2 under the fixed order, each page versioned by its read time, and finishes with skip 0', async () => {
    const pages = await pull(null, { pageSize: 2 });
    // 1C orders "Ref_Key" by presentation (Description): the stand-in does as the facts say it does.
    expect(pages.map((page) => page.cursor)).toEqual(['{"skip":2}', '{"skip":4}', '{"skip":0}']);
    expect(pages.map((page) => page.records)).toEqual([
      [
        { type: 'product', id: 'b837edfc-c36d-11e6-aede-5404a6b4b8ed', op: 'upsert', version: '2026-11-22T10:00:00.000Z', data: { name: 'Женские сумки', sku: null } },
        { type: 'product', id: 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed', op: 'upsert', version: '2026-11-22T10:00:00.000Z', data: { name: 'НеЖенскаяНеСумка', sku: '412' } },
      ],
      [
        { type: 'product', id: 'f8c956e9-cdad-11e6-aede-5404a6b4b8ed', op: 'upsert', version: '2026-11-22T10:00:01.000Z', data: { name: 'НеЖенскиеНеСумки', sku: null } },
        { type: 'product', id: 'b1c89d95-cb6a-11e6-aede-5404a6b4b8ed', op: 'upsert', version: '2026-11-22T10:00:01.000Z', data: { name: 'НеЖенскиеСумки', sku: null } },
      ],
      [
        { type: 'product', id: '68c21ae9-cd73-11e6-aede-5404a6b4b8ed', op: 'upsert', version: '2026-11-22T10:00:02.000Z', data: { name: 'Тестовый товар 1', sku: '12233324' } },
      ],
    ]);
    expect(server.requests.map((request) => request.rawQuery)).toEqual([
      '$format=json&$orderby=Ref_Key%20asc&$select=Ref_Key%2CDeletionMark%2CDescription%2C%D0%90%D1%80%D1%82%D0%B8%D0%BA%D1%83%D0%BB&$top=2',
      '$format=json&$orderby=Ref_Key%20asc&$select=Ref_Key%2CDeletionMark%2CDescription%2C%D0%90%D1%80%D1%82%D0%B8%D0%BA%D1%83%D0%BB&$top=2&$skip=2',
      '$format=json&$orderby=Ref_Key%20asc&$select=Ref_Key%2CDeletionMark%2CDescription%2C%D0%90%D1%80%D1%82%D0%B8%D0%BA%D1%83%D0%BB&$top=2&$skip=4',
    ]);
    expect(server.requests.every((request) => request.entity === 'Catalog_Номенклатура' && request.status === 200)).toBe(true);
  });

  it('a catalog whose size is a multiple of the page size ends with an empty page that still carries the cursor', async () => {
    const pages = await pull(null, { pageSize: 5 });
    expect(pages.map((page) => [page.records.length, page.cursor])).toEqual([[5, '{"skip":5}'], [0, '{"skip":0}']]);
  });

  it('resumes an interrupted read at the saved skip', async () => {
    const pages = await pull('{"skip":4}', { pageSize: 2 });
    expect(pages.map((page) => [page.records.map((record) => record.id), page.cursor])).toEqual([[['68c21ae9-cd73-11e6-aede-5404a6b4b8ed'], '{"skip":0}']]);
  });

  it('DeletionMark true is a delete without data; a changed entity comes with its new values', async () => {
    server.change('Catalog_Номенклатура', 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed', { DeletionMark: true });
    server.change('Catalog_Номенклатура', '68c21ae9-cd73-11e6-aede-5404a6b4b8ed', { Артикул: '12233325' });
    const records = (await pull(null, { pageSize: 500 })).flatMap((page) => page.records);
    expect(records.find((record) => record.id === 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed')).toEqual({ type: 'product', id: 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed', op: 'delete', version: '2026-11-22T10:00:00.000Z', data: null });
    expect(records.find((record) => record.id === '68c21ae9-cd73-11e6-aede-5404a6b4b8ed')?.data).toEqual({ name: 'Тестовый товар 1', sku: '12233325' });
    expect(records.filter((record) => record.op === 'delete')).toHaveLength(1);
  });

  it('maps Cyrillic properties of a real counterparty: the empty date is null, and the entity set goes percent-encoded as UTF-8', async () => {
    const pages = await pull(null, { entity: 'Catalog_Контрагенты', type: 'user', mapping: { name: 'Description', code: 'Code', comment: 'Комментарий', since: 'Дата', cityId: 'Город_Key' } });
    expect(pages).toEqual([{
      cursor: '{"skip":0}',
      records: [{ type: 'user', id: '1fa1a135-d89b-11e6-8343-40167e2531c3', op: 'upsert', version: '2026-11-22T10:00:00.000Z', data: { name: 'Чебоксарец', code: '0000021', comment: 'коммент', since: null, cityId: 'c0e3d8bc-d89a-11e6-8343-40167e2531c3' } }],
    }]);
  });
});

describe('1c-odata: documents incremental on Date', () => {
  const orders = {
    d1: 'b1c89d94-cb6a-11e6-aede-5404a6b4b8ed', // 2016-12-26T16:00:52
    d2: 'f8c956e5-cdad-11e6-aede-5404a6b4b8ed', // 2016-12-29T13:03:29
    d3: 'f8c956e7-cdad-11e6-aede-5404a6b4b8ed', // 2016-12-29T13:10:49
    d4: '8bbfc2cc-cdb9-11e6-aede-5404a6b4b8ed', // 2016-12-29T14:37:27
  };
  const documentSettings = { entity: 'Document_ПриходныйОрдер', type: 'mutualsettlements' as const, mapping: { number: 'Number', date: 'Date' }, incrementalField: 'Date', pageSize: 2 };

  it('reads by Date with the cursor at the last date seen, zone-less dates read in import.timeZone, and a later run starts at that date', async () => {
    const first = await pull(null, documentSettings);
    expect(first.map((page) => [page.records.map((record) => record.id), page.cursor])).toEqual([
      [[orders.d1, orders.d2], '{"since":"2016-12-29T13:03:29","skip":1}'],
      [[orders.d3, orders.d4], '{"since":"2016-12-29T14:37:27","skip":1}'],
      [[], '{"since":"2016-12-29T14:37:27","skip":0}'],
    ]);
    expect(first[0].records[0]).toEqual({ type: 'mutualsettlements', id: orders.d1, op: 'upsert', version: '2026-11-22T10:00:00.000Z', data: { number: '000000001', date: '2016-12-26T16:00:52+03:00' } });
    expect(server.requests.map((request) => [request.options.$filter, request.options.$orderby, request.options.$skip])).toEqual([
      [undefined, 'Date asc,Ref_Key asc', undefined],
      ["Date ge datetime'2016-12-29T13:03:29'", 'Date asc,Ref_Key asc', '1'],
      ["Date ge datetime'2016-12-29T14:37:27'", 'Date asc,Ref_Key asc', '1'],
    ]);
    expect(server.requests[1].rawQuery).toContain('$filter=Date%20ge%20datetime%272016-12-29T13%3A03%3A29%27&');

    server.requests.length = 0;
    server.entities.get('Document_ПриходныйОрдер')!.push({ ...server.entities.get('Document_ПриходныйОрдер')![3], Ref_Key: '0a1b2c3d-0000-11e7-aede-5404a6b4b8ed', Number: '000000005', Date: '2017-01-09T09:15:00' });
    const second = await pull(first[2].cursor, documentSettings);
    // The last date's document is read again (unchanged by hash in the store); the new one follows.
    expect(second.map((page) => [page.records.map((record) => record.id), page.cursor])).toEqual([
      [[orders.d4, '0a1b2c3d-0000-11e7-aede-5404a6b4b8ed'], '{"since":"2017-01-09T09:15:00","skip":1}'],
      [[], '{"since":"2017-01-09T09:15:00","skip":0}'],
    ]);
  });

  it('equal dates across page boundaries: nothing lost, nothing read twice in a run, a page of one date still moves on', async () => {
    const rows = server.entities.get('Document_ПриходныйОрдер')!;
    const same = (n: number) => ({ ...rows[1], Ref_Key: `f8c956e${n}-0000-11e6-aede-5404a6b4b8ed`, Number: `00000001${n}` });
    // Five documents share 2016-12-29T13:03:29 (d2 and four more), so pages of 2 cut through them.
    rows.push(same(1), same(2), same(3), same(4));
    const pages = await pull(null, documentSettings);
    const ids = pages.flatMap((page) => page.records.map((record) => record.id));
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    expect(pages.map((page) => page.cursor)).toEqual([
      '{"since":"2016-12-29T13:03:29","skip":1}',
      '{"since":"2016-12-29T13:03:29","skip":3}',
      '{"since":"2016-12-29T13:03:29","skip":5}',
      '{"since":"2016-12-29T14:37:27","skip":1}',
      '{"since":"2016-12-29T14:37:27","skip":0}',
    ]);
    // Resuming after the second page (a crash) reads exactly the rest.
    const resumed = await pull('{"since":"2016-12-29T13:03:29","skip":3}', documentSettings);
    expect(resumed.flatMap((page) => page.records.map((record) => record.id))).toEqual(ids.slice(4));
  });

  it('maps a real document with its reference and tabular data, the empty reference as null', async () => {
    server.change('Document_Контракт', 'b1c89da7-cb6a-11e6-aede-5404a6b4b8ed', { Контрагент_Key: '00000000-0000-0000-0000-000000000000' });
    const pages = await pull(null, { entity: 'Document_Контракт', type: 'mutualsettlements', mapping: { number: 'Number', date: 'Date', counterpartyId: 'Контрагент_Key', lines: 'Товары' }, incrementalField: 'Date' });
    expect(pages[0].records.map((record) => record.data)).toEqual([
      { number: '00000000001', date: '2016-12-26T17:08:57+03:00', counterpartyId: null, lines: [] },
      {
        number: '00000000002', date: '2016-12-29T14:35:27+03:00', counterpartyId: 'b1c89d93-cb6a-11e6-aede-5404a6b4b8ed',
        lines: [
          { Ref_Key: '8bbfc2c7-cdb9-11e6-aede-5404a6b4b8ed', LineNumber: '1', Номенклатура_Key: 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed', Количество: 5, ЕдиницаИзмерения_Key: 'f8c956ec-cdad-11e6-aede-5404a6b4b8ed', Качество_Key: '7949e1e4-b69b-48d2-b767-9c3a0a2d9e93' },
          { Ref_Key: '8bbfc2c7-cdb9-11e6-aede-5404a6b4b8ed', LineNumber: '2', Номенклатура_Key: '68c21ae9-cd73-11e6-aede-5404a6b4b8ed', Количество: 31, ЕдиницаИзмерения_Key: '68c21aea-cd73-11e6-aede-5404a6b4b8ed', Качество_Key: '306b4034-e07f-4328-ae5a-70dde4741049' },
        ],
      },
    ]);
  });
});

describe('1c-odata: what 1C answers when it fails', () => {
  it('a wrong password (401 with WWW-Authenticate) is SOURCE_UNAVAILABLE naming the status, without the password', async () => {
    const error = await pullError(null, { password: 'не-тот-пароль' });
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.exitCode).toBe(69);
    expect(error.message).toBe(`1C at ${server.url} refused the credentials for Catalog_Номенклатура (HTTP 401)`);
    expect(error.hint).toContain('1C:Enterprise authentication');
    expect(`${error.message} ${error.hint}`).not.toContain('не-тот-пароль');
  });

  it('an entity not in the published composition (404, odata.error 8) names the entity and how to publish it (exit 78)', async () => {
    const error = await pullError(null, { entity: 'Catalog_Склады' });
    expect(error.code).toBe('CONFIG');
    expect(error.exitCode).toBe(78);
    expect(error.message).toBe(`1C at ${server.url} does not publish Catalog_Склады (HTTP 404: Не найден тип сущности: Catalog_Склады)`);
    expect(error.details).toEqual(['settings.entity: Catalog_Склады is not in the published composition of the standard OData interface (or the name is misspelt)']);
    expect(error.hint).toContain('Настройка стандартного интерфейса OData');
  });

  it('a mapped property the entity lacks (400, odata.error 10) is a config error naming settings.mapping', async () => {
    const error = await pullError(null, { mapping: { name: 'Description', inn: 'ИНН' } });
    expect(error.code).toBe('CONFIG');
    expect(error.message).toBe(`1C at ${server.url} refused the properties asked of Catalog_Номенклатура: Не найдено свойство: ИНН`);
    expect(error.details[0]).toMatch(/^settings\.mapping: /);
  });

  it.each([
    ['odata-500' as const, 'failed reading Catalog_Номенклатура (HTTP 500: [-1] Ошибка при выполнении запроса: Недостаточно памяти для получения результата запроса)'],
    ['html-500' as const, "failed reading Catalog_Номенклатура (HTTP 500: 1C:Enterprise 8 application error The device is full '/tmp/v8_a1b2c3.tmp')"],
    ['exception-json' as const, 'forbids reading Catalog_Номенклатура (HTTP 403: [403] Начало сеанса с информационной базой запрещено)'],
    ['html-200' as const, 'answered Catalog_Номенклатура with an HTML page instead of JSON (HTTP 200: 1С:Предприятие: Введите имя пользователя и пароль); 1C does this on some authentication problems'],
  ])('%s on the second page: the first page was yielded, then SOURCE_UNAVAILABLE with 1C\'s own words', async (failure, said) => {
    const pages: SyncPage[] = [];
    // The first request succeeds; the failure answers the second.
    server.failNext = [null, failure];
    const error = await pullError(null, { pageSize: 2 }, pages);
    expect(pages.map((page) => page.cursor)).toEqual(['{"skip":2}']);
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toBe(`1C at ${server.url} ${said}`);
  });

  it('no answer within timeoutMs is SOURCE_UNAVAILABLE', async () => {
    server.failNext = ['hang'];
    const error = await pullError(null, { timeoutMs: 300 });
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toBe(`1C at ${server.url} did not answer Catalog_Номенклатура: no answer in 300 ms`);
  });

  it('a refused connection is SOURCE_UNAVAILABLE', async () => {
    const down = new OneCODataServer();
    await down.start();
    const url = down.url;
    await down.stop();
    const error = await pullError(null, { url });
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.message).toBe(`1C at ${url} did not answer Catalog_Номенклатура: ECONNREFUSED`);
  });

  it('settings are checked by the schema: entity shape, type, mapping, page size', () => {
    const result = oneCODataProvider.settings.safeParse({ url: 'not a url', user: '', entity: 'Контрагенты', type: 'rate', mapping: {}, pageSize: 0, extra: 1 });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(','));
    expect(paths.sort()).toEqual(['entity', 'extra', 'mapping', 'pageSize', 'type', 'url', 'user'].sort());
    expect(oneCODataProvider.settings.parse({ url: server.url, user: 'u', entity: 'Catalog_Контрагенты', type: 'user', mapping: { name: 'Description' } })).toEqual({
      url: server.url, user: 'u', password: '', entity: 'Catalog_Контрагенты', type: 'user', mapping: { name: 'Description' }, pageSize: 500, timeoutMs: 60_000,
    });
  });
});
