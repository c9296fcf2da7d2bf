import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import type { Envelope } from '../../src/messages/envelope.js';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';
import { crmSinkPlugin, type CrmSink } from '../../src/sinks/crm/crm-sink.js';
import { Bitrix24Server } from '../support/bitrix24-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

async function setupSink(crm: Record<string, unknown> = {}) {
  const server = await new Bitrix24Server({ rateLimit: false }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-crm-'));
  const store: RecordStore = await openRecordStore(`sqlite:${path.join(dir, 'store.db')}`);
  cleanups.push(() => server.stop(), () => fs.rmSync(dir, { recursive: true, force: true }), () => store.close());
  const config = parseConfig({ crm: { webhookUrl: server.webhookUrl, requestsPerSecond: 100, burst: 100, productIblockId: 14, ...crm }, routes: { product: ['crm'] } });
  const open = async () => (await crmSinkPlugin.open({ config, recordStore: store, reporter: silentReporter })) as CrmSink;
  return { server, store, sink: await open(), open };
}

const user = (id: string, version: string, data: Record<string, unknown> = {}): Envelope => ({
  type: 'user', op: 'upsert', id, version, source: '1c',
  data: { name: `ООО «${id}»`, inn: '7707083893', kpp: '770701001', phone: '+7 495 111-11-11', email: `${id}@example.ru`, ...data },
});

describe('crm sink: users → crm.company + crm.requisite', () => {
  it('creates a company with its requisite, then updates it by its link with one command', async () => {
    const { server, store, sink } = await setupSink();
    expect(await sink.write([user('u1', '2026-01-01T00:00:00Z'), user('u2', '2026-01-01T00:00:00Z', { inn: null, kpp: null })])).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(server.companies.rows.size).toBe(2);
    expect(server.companies.rows.get(1)).toMatchObject({ TITLE: 'ООО «u1»', ORIGINATOR_ID: '1c', ORIGIN_ID: 'u1', ORIGIN_VERSION: '2026-01-01T00:00:00Z', PHONE: [{ VALUE: '+7 495 111-11-11', VALUE_TYPE: 'WORK' }], EMAIL: [{ VALUE: 'u1@example.ru' }] });
    expect(server.requisites.all()).toEqual([expect.objectContaining({ ENTITY_TYPE_ID: 4, ENTITY_ID: 1, PRESET_ID: '1', XML_ID: 'u1', RQ_INN: '7707083893', RQ_KPP: '770701001', NAME: 'ООО «u1»' })]);
    expect((await store.getLinks('user', 'crm', ['u1', 'u2'])).get('u1')).toBe('1');

    server.resetCounters();
    expect(await sink.write([user('u1', '2026-01-02T00:00:00Z', { address: 'Москва' })])).toEqual([{ status: 'written' }]);
    expect(server.counters).toMatchObject({ requests: 1, commands: 1, byMethod: { 'crm.company.update': 1 } });
    expect(server.companies.rows.get(1)).toMatchObject({ ADDRESS: 'Москва', ORIGIN_VERSION: '2026-01-02T00:00:00Z' });
    expect(server.companies.rows.get(1)!.PHONE).toHaveLength(1);

    // A changed phone replaces the value it wrote (by the value's ID), it does not add a second one.
    server.resetCounters();
    await sink.write([user('u1', '2026-01-03T00:00:00Z', { phone: '+7 495 222-22-22', inn: '7707083894' })]);
    expect(server.companies.rows.get(1)!.PHONE).toEqual([expect.objectContaining({ VALUE: '+7 495 222-22-22' })]);
    expect(server.requisites.all()[0]).toMatchObject({ RQ_INN: '7707083894' });
    expect(server.counters.byMethod).toMatchObject({ 'crm.company.list': 1, 'crm.company.update': 1, 'crm.requisite.update': 1 });
  });

  it('refuses older versions (stale) and does nothing for a redelivered one (unchanged)', async () => {
    const { server, sink } = await setupSink();
    await sink.write([user('u1', '2026-01-02T00:00:00Z')]);
    server.resetCounters();
    expect(await sink.write([user('u1', '2026-01-01T00:00:00Z', { name: 'older' }), user('u1', '2026-01-02T00:00:00Z')])).toEqual([{ status: 'stale' }, { status: 'unchanged' }]);
    expect(server.counters.requests).toBe(0);
    expect(server.companies.rows.get(1)!.TITLE).toBe('ООО «u1»');
  });

  it('finds what exists in the CRM by ORIGIN_ID / XML_ID instead of creating it twice; a newer CRM version is stale', async () => {
    const { server, sink } = await setupSink();
    server.companies.insert({ TITLE: 'made by hand', ORIGIN_ID: 'u1', ORIGIN_VERSION: '2026-01-01T00:00:00Z' });
    server.requisites.insert({ ENTITY_TYPE_ID: 4, ENTITY_ID: 1, PRESET_ID: '1', XML_ID: 'u1', NAME: 'ООО «u1»', RQ_INN: '7707083893', RQ_KPP: '770701001', RQ_COMPANY_NAME: 'ООО «u1»' });
    server.companies.insert({ TITLE: 'newer in CRM', ORIGIN_ID: 'u2', ORIGIN_VERSION: '2027-01-01T00:00:00Z' });
    const results = await sink.write([user('u1', '2026-02-01T00:00:00Z'), user('u2', '2026-02-01T00:00:00Z'), user('u3', '2026-02-01T00:00:00Z')]);
    expect(results).toEqual([{ status: 'written' }, { status: 'stale' }, { status: 'written' }]);
    expect(server.companies.rows.size).toBe(3);
    expect(server.companies.rows.get(1)).toMatchObject({ TITLE: 'ООО «u1»', ORIGIN_VERSION: '2026-02-01T00:00:00Z' });
    expect(server.companies.rows.get(2)!.TITLE).toBe('newer in CRM');
    // u1's requisite matched what we would write: not rewritten; u3 got its own.
    expect(server.counters.byMethod['crm.requisite.update']).toBeUndefined();
    expect(server.requisites.rows.size).toBe(2);
    // lookups: one company list and one requisite list for the whole batch
    expect(server.counters.byMethod).toMatchObject({ 'crm.company.list': 1, 'crm.requisite.list': 1 });
  });

  it('fails only the poison item; a temporary per-item error is a retry', async () => {
    const { server, sink } = await setupSink();
    server.failCommand = (method, params) => {
      const title = (params.fields as Record<string, unknown> | undefined)?.TITLE;
      if (method === 'crm.company.add' && title === 'ООО «poison»') return { error: 'ERROR_CORE', error_description: 'Bad field' };
      if (method === 'crm.company.add' && title === 'ООО «flaky»') return { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' };
      return undefined;
    };
    const results = await sink.write([user('good', '1'), user('poison', '1'), user('flaky', '1')]);
    expect(results[0]).toEqual({ status: 'written' });
    expect(results[1]).toMatchObject({ status: 'fail', code: 'CRM_ERROR_CORE' });
    expect(results[2]).toMatchObject({ status: 'retry', code: 'CRM_QUERY_LIMIT_EXCEEDED' });
    expect(server.companies.rows.size).toBe(1);
    expect(server.requisites.rows.size).toBe(1);
  });

  it('stops (SINK_UNAVAILABLE, exit 69) when the lookup request itself fails (connection dropped), creating nothing', async () => {
    const { server, sink } = await setupSink();
    server.dropNext = 1;
    await expect(sink.write([user('u1', '1'), user('u2', '1')])).rejects.toMatchObject({ name: 'ExchangeError', code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect(server.companies.rows.size).toBe(0);
    expect(await sink.write([user('u1', '1'), user('u2', '1')])).toEqual([{ status: 'written' }, { status: 'written' }]);
  });

  it('classifies per-item errors: refused for good → fail, a lock or rate limit → retry, access denied for the webhook → SINK_UNAVAILABLE', async () => {
    const { server, sink } = await setupSink();
    server.failCommand = (method, params) => {
      const title = (params.fields as Record<string, unknown> | undefined)?.TITLE;
      if (method !== 'crm.company.add') return undefined;
      if (title === 'ООО «bad-email»') return { error: 'ERROR_CORE', error_description: 'The E-mail field contains an invalid address' };
      if (title === 'ООО «locked»') return { error: '', error_description: 'Deadlock found when trying to get lock; try restarting transaction' };
      if (title === 'ООО «limited»') return { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit' };
      return undefined;
    };
    const results = await sink.write([user('bad-email', '1'), user('locked', '1'), user('limited', '1'), user('fine', '1')]);
    expect(results).toEqual([
      { status: 'fail', code: 'CRM_ERROR_CORE', reason: 'crm.company.add: ERROR_CORE (The E-mail field contains an invalid address)' },
      expect.objectContaining({ status: 'retry', code: 'CRM_ERROR' }),
      expect.objectContaining({ status: 'retry', code: 'CRM_OPERATION_TIME_LIMIT' }),
      { status: 'written' },
    ]);
    // crm-company-add.md: "Access denied" with an empty code refuses every item alike: the run stops, nothing is failed.
    server.failCommand = (method) => (method === 'crm.company.add' ? { error: '', error_description: 'Access denied' } : undefined);
    await expect(sink.write([user('other', '1')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
  });

  it('honours field overrides from config', async () => {
    const { server, sink } = await setupSink({ fields: { company: { TITLE: 'data.fullName|data.name', ADDRESS: null, COMPANY_TYPE: '=CUSTOMER' } } });
    await sink.write([user('u1', '1', { fullName: 'Общество «u1»', address: 'x' })]);
    expect(server.companies.rows.get(1)).toMatchObject({ TITLE: 'Общество «u1»', COMPANY_TYPE: 'CUSTOMER' });
    expect(server.companies.rows.get(1)!.ADDRESS).toBeUndefined();
  });
});

describe('crm sink: an entity deleted in the CRM after we linked it', () => {
  const doc = (id: string, version: string): Envelope => ({
    type: 'mutualsettlements', op: 'upsert', id, version, source: '1c',
    data: { number: `ВЗ-${id}`, date: '2026-11-20T00:00:00.000Z', counterpartyId: 'cp1', currency: '643', amount: 10, orderIds: [] },
  });

  it('a deleted company is created again on the retry, with its requisite, not parked', async () => {
    const { server, sink } = await setupSink();
    expect(await sink.write([user('cp1', '1')])).toEqual([{ status: 'written' }]);
    // As the portal does (crm-company-delete.md): the company goes, and its requisites with it.
    server.companies.rows.delete(1);
    for (const requisite of server.requisites.all()) if (requisite.ENTITY_ID === 1) server.requisites.rows.delete(requisite.ID as number);
    expect(await sink.write([user('cp1', '2')])).toEqual([expect.objectContaining({ status: 'retry', code: 'CRM_NOT_FOUND' })]);
    expect(await sink.write([user('cp1', '2')])).toEqual([{ status: 'written' }]);
    expect(server.companies.all().filter((c) => c.ORIGIN_ID === 'cp1')).toEqual([expect.objectContaining({ ORIGIN_VERSION: '2' })]);
    expect(server.requisites.all()).toEqual([expect.objectContaining({ XML_ID: 'cp1', ENTITY_ID: server.companies.all()[0].ID })]);
  });

  it('a deleted deal is created again on the retry, not parked', async () => {
    const { server, sink } = await setupSink();
    await sink.write([user('cp1', '1')]);
    expect(await sink.write([doc('d1', '1')])).toEqual([{ status: 'written' }]);
    const [deal] = server.deals.all();
    server.deals.rows.delete(deal.ID as number);
    expect(await sink.write([doc('d1', '2')])).toEqual([expect.objectContaining({ status: 'retry', code: 'CRM_NOT_FOUND' })]);
    expect(await sink.write([doc('d1', '2')])).toEqual([{ status: 'written' }]);
    expect(server.deals.all()).toEqual([expect.objectContaining({ ORIGIN_ID: 'd1', COMPANY_ID: '1', TITLE: 'ВЗ-d1' })]);
  });
});

describe('crm sink: products and mutual settlements', () => {
  const product = (id: string, version: string, value = 100): Envelope => ({
    type: 'product', op: 'upsert', id, version, source: '1c',
    data: { name: `Товар ${id}`, sku: `A-${id}`, prices: [{ typeId: 'base', type: 'Розничная', value, currency: 'руб.' }] },
  });

  it('writes catalog products with their base price, found by xmlId, price written only when it changed', async () => {
    const { server, sink } = await setupSink();
    server.products.insert({ iblockId: '14', name: 'old', xmlId: 'p2' });
    expect(await sink.write([product('p1', '1'), product('p2', '1')])).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(server.products.rows.size).toBe(2);
    expect(server.products.rows.get(1)).toMatchObject({ name: 'Товар p2', xmlId: 'p2', active: 'Y' });
    expect(server.prices.all().map((p) => [p.productId, p.price, p.currency]).sort()).toEqual([[1, 100, 'RUB'], [2, 100, 'RUB']]);
    server.resetCounters();
    await sink.write([product('p1', '2', 100), product('p2', '2', 120)]);
    expect(server.counters.byMethod).toEqual({ 'catalog.product.update': 2, 'catalog.price.update': 1 });
    expect(server.prices.all().find((p) => p.productId === 1)!.price).toBe(120);
  });

  it('reads the id of a new product from result.element (catalog-product-add.md) and links its price with $result[key][element][id]', async () => {
    const { server, store, sink } = await setupSink({ priceTypeId: 1 });
    expect(await sink.write([product('p1', '1', 250)])).toEqual([{ status: 'written' }]);
    expect(server.products.all()).toEqual([expect.objectContaining({ ID: 1, xmlId: 'p1', name: 'Товар p1', active: 'Y' })]);
    expect(server.prices.all()).toEqual([expect.objectContaining({ productId: 1, catalogGroupId: 1, price: 250, currency: 'RUB' })]);
    expect((await store.getLinks('product', 'crm', ['p1'])).get('p1')).toBe('1');
    expect((await store.getLinks('product', 'crm-price', ['p1'])).get('p1')).toBe('1');
  });

  it('a delete only deactivates the product: its name, price and everything else stay as they were', async () => {
    const { server, sink } = await setupSink();
    await sink.write([product('p1', '1', 100)]);
    server.resetCounters();
    const deleted: Envelope = { type: 'product', op: 'delete', id: 'p1', version: '2', source: '1c', data: null };
    expect(await sink.write([deleted])).toEqual([{ status: 'written' }]);
    expect(server.products.rows.get(1)).toMatchObject({ name: 'Товар p1', active: 'N', xmlId: 'p1' });
    expect(server.prices.all().map((p) => p.price)).toEqual([100]);
    expect(server.counters.byMethod).toEqual({ 'catalog.product.update': 1 });
    // A delete of a product the CRM never had creates nothing.
    const unknown: Envelope = { type: 'product', op: 'delete', id: 'p9', version: '2', source: '1c', data: null };
    expect(await sink.write([unknown])).toEqual([{ status: 'unchanged' }]);
    expect(server.products.rows.size).toBe(1);
  });

  it('writes a deal for a document with its company, and one deal per order, never twice', async () => {
    const { server, sink } = await setupSink({ orderCategoryId: 2 });
    await sink.write([user('cp1', '1')]);
    const doc = (id: string, version: string, orderIds: string[], counterpartyId = 'cp1'): Envelope => ({
      type: 'mutualsettlements', op: 'upsert', id, version, source: '1c',
      data: { number: `ВЗ-${id}`, date: '2026-11-20T00:00:00.000Z', counterpartyId, currency: '643', amount: 1500.5, orderIds },
    });
    const results = await sink.write([doc('d1', '1', ['o1', 'o2']), doc('d2', '1', ['o2']), doc('d3', '1', [], 'unknown-cp')]);
    expect(results.slice(0, 2)).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(results[2]).toMatchObject({ status: 'retry', code: 'CRM_COUNTERPARTY_MISSING' });
    const deals = server.deals.all();
    expect(deals.filter((d) => d.ORIGIN_ID === 'd1')).toEqual([expect.objectContaining({ COMPANY_ID: '1', OPPORTUNITY: '1500.5', CURRENCY_ID: 'RUB', TITLE: 'ВЗ-d1' })]);
    expect(deals.filter((d) => d.ORIGIN_ID === 'o2')).toEqual([expect.objectContaining({ COMPANY_ID: '1', CATEGORY_ID: '2', TITLE: 'Заказ o2' })]);
    expect(deals).toHaveLength(4);
    await sink.write([doc('d1', '2', ['o1', 'o2', 'o3'])]);
    expect(server.deals.all()).toHaveLength(5);
  });
});
