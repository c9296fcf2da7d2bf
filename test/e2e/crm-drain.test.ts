import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bitrix24Server, type Bitrix24ServerOptions } from '../support/bitrix24-server.js';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies, userEnvelope } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
// The tests drive the built binary, as cron does; `npm test` builds it before any test runs.
beforeAll(async () => {
  broker = await TestBroker.open();
});
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

/** A tenant of its own, a portal of its own, users routed to records and crm. */
async function crmRoute(portal: Bitrix24ServerOptions = { rateLimit: false }, crm: Record<string, unknown> = {}, routes: Record<string, string[]> = { user: ['records', 'crm'] }) {
  const server = await new Bitrix24Server(portal).start();
  const tenant = uniqueName('t');
  const work = tempWorkdir({
    amqp: { retryDelayMs: 300, maxAttempts: 3 },
    drain: { idleMs: 1500 },
    routes,
    crm: { requestsPerSecond: 20, burst: 50, timeoutMs: 10_000, ...crm },
  });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_BITRIX24_WEBHOOK: server.webhookUrl };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 120_000 });
  cleanups.push(() => server.stop(), () => work.remove(), () => broker.deleteTenant(tenant, ['records', 'crm']));
  expect((await cli('setup')).code).toBe(0);
  return { server, cli, exchange: `${tenant}.user`, queue: `${tenant}.user.crm` };
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

describe('exchange user --sink crm (DESIGN §8) against a Bitrix24 test portal', () => {
  it('creates each company once: a second delivery of the same messages writes nothing and creates nothing', async () => {
    const s = await crmRoute();
    const users = ids('u', 120);
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(users));
    const first = await s.cli('user', '--sink', 'crm', '--json');
    expect(first.code).toBe(0);
    expect(first.summary).toMatchObject({ read: 120, written: 120, deadLettered: 0, retried: 0 });
    expect(s.server.companies.rows.size).toBe(120);
    expect(s.server.requisites.rows.size).toBe(120);
    expect(new Set(s.server.companies.all().map((c) => c.ORIGIN_ID)).size).toBe(120);
    // The records route is drained on its own and was not touched.
    expect(await broker.depth(`${s.exchange}.records`)).toBe(120);

    s.server.resetCounters();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(users));
    const again = await s.cli('user', '--sink', 'crm', '--json');
    expect(again.summary).toMatchObject({ read: 120, written: 0, unchanged: 120 });
    expect(s.server.counters.requests).toBe(0);
    expect(s.server.companies.rows.size).toBe(120);
  });

  it('two competing consumers on one queue, every message delivered twice: still one company per user', async () => {
    const s = await crmRoute();
    const users = ids('c', 150);
    const bodies = userBodies(users);
    await broker.publishMany(s.exchange, 'user.upsert', [...bodies, ...bodies.reverse()]);
    const [a, b] = await Promise.all([
      s.cli('user', '--sink', 'crm', '--json', '--batch-size', '40', '--prefetch', '40'),
      s.cli('user', '--sink', 'crm', '--json', '--batch-size', '40', '--prefetch', '40'),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(Number(a.summary!.read) + Number(b.summary!.read)).toBe(300);
    expect(Number(a.summary!.written) + Number(b.summary!.written)).toBe(150);
    expect(s.server.companies.rows.size).toBe(150);
    expect(s.server.requisites.rows.size).toBe(150);
  });

  it('paces itself against a portal with a smaller bucket and retries a rate-limited item through .retry', async () => {
    // The portal allows a burst of 4 at 10/s; the config believes in 50: refusals teach it, nothing is lost.
    const s = await crmRoute({ requestsPerSecond: 10, burst: 4 }, { requestsPerSecond: 10, burst: 50 });
    let limited = 0;
    s.server.failCommand = (method, params) => {
      const title = (params.fields as Record<string, unknown> | undefined)?.TITLE;
      if (method === 'crm.company.add' && title === 'ООО «Контрагент r-0007»' && limited++ === 0) return { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' };
      return undefined;
    };
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(ids('r', 300)));
    // Another application on the same address has just used the bucket up: the first request is refused for sure.
    s.server.fillBucket();
    const result = await s.cli('user', '--sink', 'crm', '--json', '--batch-size', '50');
    expect(result.summary).toMatchObject({ read: 301, written: 300, retried: 1, deadLettered: 0 });
    expect(result.code).toBe(1);
    expect(s.server.companies.rows.size).toBe(300);
    expect(s.server.counters.refused).toBeGreaterThan(0);
    expect(s.server.counters.refused).toBeLessThanOrEqual(5);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
  });

  it('dead-letters a poison item alone, with the CRM error in its headers', async () => {
    const s = await crmRoute();
    s.server.failCommand = (method, params) =>
      method === 'crm.company.add' && String((params.fields as Record<string, unknown>).ORIGIN_ID) === 'poison-1' ? { error: 'ERROR_CORE', error_description: 'Field TITLE is invalid' } : undefined;
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['good-1', 'poison-1', 'good-2']));
    const result = await s.cli('user', '--sink', 'crm', '--json');
    expect(result.code).toBe(1);
    expect(result.summary).toMatchObject({ read: 3, written: 2, deadLettered: 1 });
    await broker.waitForDepth(`${s.queue}.dlq`, 1);
    const [parked] = await broker.takeAll(`${s.queue}.dlq`);
    expect(JSON.parse(parked.content.toString()).id).toBe('poison-1');
    expect(parked.properties.headers).toMatchObject({ 'exchange-error-code': 'CRM_ERROR_CORE' });
    expect(String(parked.properties.headers!['exchange-error'])).toContain('Field TITLE is invalid');
    expect(s.server.companies.all().map((c) => c.ORIGIN_ID).sort()).toEqual(['good-1', 'good-2']);
  });

  it('stops with exit 69 when the portal refuses the webhook; nothing is acked or lost, the code is never printed', async () => {
    const s = await crmRoute();
    s.server.authFailure = 'NO_AUTH_FOUND';
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(ids('a', 30)));
    const result = await s.cli('user', '--sink', 'crm', '--json');
    expect(result.code).toBe(69);
    expect(result.json.find((e) => e.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect(result.stdout + result.stderr).toContain('NO_AUTH_FOUND');
    expect(result.stdout + result.stderr).not.toContain(s.server.code);
    await broker.waitForDepth(s.queue, 30);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);

    // Fixed: the next run writes them all.
    s.server.authFailure = undefined;
    const fixed = await s.cli('user', '--sink', 'crm', '--json');
    expect(fixed.summary).toMatchObject({ read: 30, written: 30, exitCode: 0 });
  });

  it('refuses an older version of a user the CRM already holds (stale)', async () => {
    const s = await crmRoute();
    await broker.publishMany(s.exchange, 'user.upsert', [JSON.stringify(userEnvelope('v-1', { version: '2026-11-23T00:00:00.000Z', name: 'Новое' }))]);
    await s.cli('user', '--sink', 'crm');
    await broker.publishMany(s.exchange, 'user.upsert', [JSON.stringify(userEnvelope('v-1', { version: '2026-11-22T00:00:00.000Z', name: 'Старое' }))]);
    const result = await s.cli('user', '--sink', 'crm', '--json');
    expect(result.summary).toMatchObject({ read: 1, stale: 1, written: 0 });
    expect(s.server.companies.rows.get(1)).toMatchObject({ TITLE: 'Новое', ORIGIN_VERSION: '2026-11-23T00:00:00.000Z' });
  });

  it('drains products and mutual settlements through their own crm routes: catalog products with prices, deals with their orders', async () => {
    const s = await crmRoute({ rateLimit: false }, { productIblockId: 14, orderCategoryId: 3 }, { user: ['crm'], product: ['crm'], mutualsettlements: ['crm'] });
    const tenant = s.exchange.slice(0, -'.user'.length);
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['cp-1']));
    const product = (id: string, value: number) => JSON.stringify({ type: 'product', op: 'upsert', id, version: '2026-11-22T10:15:00.000Z', source: '1c', data: { name: `Товар ${id}`, prices: [{ typeId: 't1', type: 'Розничная', value, currency: 'RUB' }] } });
    await broker.publishMany(`${tenant}.product`, 'product.upsert', [product('p-1', 10), product('p-2', 20)]);
    const doc = JSON.stringify({ type: 'mutualsettlements', op: 'upsert', id: 'd-1', version: '2026-11-22T10:15:00.000Z', source: '1c', data: { number: 'ВЗ-1', counterpartyId: 'cp-1', amount: 30, currency: 'руб.', orderIds: ['o-1', 'o-2'] } });
    await broker.publishMany(`${tenant}.mutualsettlements`, 'mutualsettlements.upsert', [doc, doc]);
    expect((await s.cli('user', '--sink', 'crm')).code).toBe(0);
    const products = await s.cli('product', '--sink', 'crm', '--json');
    expect(products.summary).toMatchObject({ read: 2, written: 2, exitCode: 0 });
    const documents = await s.cli('mutualsettlements', '--sink', 'crm', '--json');
    expect(documents.summary).toMatchObject({ read: 2, written: 1, unchanged: 1, exitCode: 0 });
    expect(s.server.products.all().map((p) => [p.name, p.xmlId, p.iblockId])).toEqual([['Товар p-1', 'p-1', '14'], ['Товар p-2', 'p-2', '14']]);
    expect(s.server.prices.all().map((p) => p.price)).toEqual([10, 20]);
    const deals = s.server.deals.all();
    expect(deals.map((d) => [d.ORIGIN_ID, d.COMPANY_ID, d.CATEGORY_ID ?? null]).sort()).toEqual([['d-1', '1', null], ['o-1', '1', '3'], ['o-2', '1', '3']]);
    expect(deals.find((d) => d.ORIGIN_ID === 'd-1')).toMatchObject({ OPPORTUNITY: '30', CURRENCY_ID: 'RUB', TITLE: 'ВЗ-1' });
  });
});
