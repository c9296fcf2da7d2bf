import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bitrix24Server } from '../support/bitrix24-server.js';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { drainUntil } from '../support/drain-until.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

// Every CRM route end to end through the built CLI, from RabbitMQ into the Bitrix24 stand-in (which answers
// as Bitrix24's docs say, test/support/bitrix24-server.ts): creates, redeliveries, updates, deletes, a lost
// link table, a rate-limited command, and an outage or a refused webhook that stops the run with 69 leaving
// every message in its queue with its attempts as they were.

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

type Route = 'user' | 'product' | 'mutualsettlements';

async function crmRoutes() {
  const server = await new Bitrix24Server({ rateLimit: false }).start();
  const tenant = uniqueName('t');
  const work = tempWorkdir({
    amqp: { retryDelayMs: 300, maxAttempts: 3 },
    drain: { idleMs: 500 },
    routes: { user: ['crm'], product: ['crm'], mutualsettlements: ['crm'] },
    crm: { requestsPerSecond: 20, burst: 50, timeoutMs: 3_000, productIblockId: 14, priceTypeId: 1, orderCategoryId: 3 },
  });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_BITRIX24_WEBHOOK: server.webhookUrl };
  const cli = (route: Route, ...args: string[]) => runCli([route, '--sink', 'crm', '--json', ...args], { env, cwd: work.dir, timeoutMs: 120_000 });
  cleanups.push(() => server.stop(), () => work.remove(), () => broker.deleteTenant(tenant, ['crm']));
  expect((await runCli(['setup'], { env, cwd: work.dir, timeoutMs: 60_000 })).code).toBe(0);
  const queue = (route: Route) => `${tenant}.${route}.crm`;
  const publish = (route: Route, bodies: object[], headers?: Record<string, unknown>) =>
    headers
      ? Promise.all(bodies.map((body) => broker.publish(`${tenant}.${route}`, `${route}.upsert`, JSON.stringify(body), { headers })))
      : broker.publishMany(`${tenant}.${route}`, `${route}.upsert`, bodies.map((body) => JSON.stringify(body)));
  /** The link table lost (a restored backup, a new store): the sink must find what it wrote by lookup. */
  const loseLinks = () => {
    const db = new Database(path.join(work.dir, 'exchange.db'));
    try { return db.prepare('DELETE FROM links').run().changes; } finally { db.close(); }
  };
  return { server, cli, queue, publish, loseLinks };
}

const user = (id: string, version: string, name = `ООО «${id}»`, op: 'upsert' | 'delete' = 'upsert') =>
  ({ type: 'user', op, id, version, source: '1c', data: op === 'delete' ? null : { name, inn: '7707083893', kpp: '770701001', phone: '+7 495 111-11-11' } });
const product = (id: string, version: string, price: number, name = `Товар ${id}`, op: 'upsert' | 'delete' = 'upsert') =>
  ({ type: 'product', op, id, version, source: '1c', data: op === 'delete' ? null : { name, prices: [{ typeId: 't1', type: 'Розничная', value: price, currency: 'RUB' }] } });
const settlement = (id: string, version: string, amount: number, orderIds: string[], op: 'upsert' | 'delete' = 'upsert') =>
  ({ type: 'mutualsettlements', op, id, version, source: '1c', data: op === 'delete' ? null : { number: `ВЗ-${id}`, counterpartyId: 'cp-1', amount, currency: 'руб.', orderIds } });

const v1 = '2026-11-22T10:00:00.000Z';
const v2 = '2026-11-23T10:00:00.000Z';
const v3 = '2026-11-24T10:00:00.000Z';

describe('CRM routes end to end (issue 8)', () => {
  it('users → companies + requisites: create, redeliver, update, delete, lost links, a rate-limited command', async () => {
    const s = await crmRoutes();
    const ids = ['u-1', 'u-2', 'u-3', 'u-4'];
    await s.publish('user', ids.map((id) => user(id, v1)));
    expect((await s.cli('user')).summary).toMatchObject({ read: 4, written: 4, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(s.server.companies.all().map((c) => [c.ORIGIN_ID, c.TITLE])).toEqual(ids.map((id) => [id, `ООО «${id}»`]));
    expect(s.server.requisites.rows.size).toBe(4);

    // A second run of the same messages changes nothing and asks the CRM nothing.
    s.server.resetCounters();
    await s.publish('user', ids.map((id) => user(id, v1)));
    expect((await s.cli('user')).summary).toMatchObject({ read: 4, unchanged: 4, written: 0, exitCode: 0 });
    expect(s.server.counters.requests).toBe(0);

    // Update one, delete one (companies stay in the CRM: deals hang on them), one rate-limited once.
    let limited = 0;
    s.server.failCommand = (method, params) =>
      method === 'crm.company.update' && (params.fields as Record<string, unknown>).ORIGIN_ID === 'u-3' && limited++ === 0 ? { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' } : undefined;
    await s.publish('user', [user('u-1', v2, 'ООО «Новое имя»'), user('u-2', v2, '', 'delete'), user('u-3', v2, 'ООО «Третье»')]);
    // The refused command's item goes to .retry and comes back to be written: by the same run or the next one
    // (drainUntil, with a deadline), so the counts add up to one round trip whatever the broker's timing.
    const retried = await drainUntil(() => s.cli('user'), async () => (await broker.depth(`${s.queue('user')}.retry`)) === 0 && (await broker.depth(s.queue('user'))) === 0);
    expect(retried.totals).toMatchObject({ read: 4, written: 2, unchanged: 1, retried: 1, deadLettered: 0 });
    expect(retried.runs[0].code).toBe(1);
    expect(limited).toBe(2);
    expect(await broker.depth(s.queue('user'))).toBe(0);
    expect(s.server.companies.all().map((c) => c.TITLE)).toEqual(['ООО «Новое имя»', 'ООО «u-2»', 'ООО «Третье»', 'ООО «u-4»']);

    // The link table lost: everything is found again by ORIGIN_ID / XML_ID, nothing is created twice.
    expect(s.loseLinks()).toBeGreaterThan(0);
    await s.publish('user', [user('u-1', v2, 'ООО «Новое имя»'), user('u-4', v3, 'ООО «Четвёртое»'), user('u-5', v3)]);
    expect((await s.cli('user')).summary).toMatchObject({ read: 3, written: 2, unchanged: 1, exitCode: 0 });
    expect(s.server.companies.rows.size).toBe(5);
    expect(s.server.requisites.rows.size).toBe(5);
    expect(new Set(s.server.companies.all().map((c) => c.ORIGIN_ID)).size).toBe(5);
    expect(await broker.depth(`${s.queue('user')}.dlq`)).toBe(0);
  });

  it('products → catalog products + prices: create, redeliver, update, delete (deactivate only), lost links, a rate-limited command', async () => {
    const s = await crmRoutes();
    await s.publish('product', [product('p-1', v1, 100), product('p-2', v1, 200), product('p-3', v1, 300)]);
    expect((await s.cli('product')).summary).toMatchObject({ read: 3, written: 3, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(s.server.products.all().map((p) => [p.xmlId, p.name, p.active])).toEqual([['p-1', 'Товар p-1', 'Y'], ['p-2', 'Товар p-2', 'Y'], ['p-3', 'Товар p-3', 'Y']]);
    expect(s.server.prices.all().map((p) => [p.productId, p.price, p.currency])).toEqual([[1, 100, 'RUB'], [2, 200, 'RUB'], [3, 300, 'RUB']]);

    s.server.resetCounters();
    await s.publish('product', [product('p-1', v1, 100), product('p-2', v1, 200), product('p-3', v1, 300)]);
    expect((await s.cli('product')).summary).toMatchObject({ read: 3, unchanged: 3, written: 0, exitCode: 0 });
    expect(s.server.counters.requests).toBe(0);

    let limited = 0;
    s.server.failCommand = (method, params) =>
      method === 'catalog.price.update' && Number(params.id) === 3 && limited++ === 0 ? { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' } : undefined;
    await s.publish('product', [product('p-1', v2, 150, 'Товар один'), product('p-2', v2, 0, '', 'delete'), product('p-3', v2, 350)]);
    // --idle-ms: this run waits for the retried item to come back from .retry (300 ms) rather than stopping at an empty queue.
    expect((await s.cli('product', '--idle-ms', '2000')).summary).toMatchObject({ read: 4, written: 3, retried: 1, deadLettered: 0, exitCode: 1 });
    expect(limited).toBe(2);
    expect(await broker.depth(s.queue('product'))).toBe(0);
    expect(s.server.products.all().map((p) => [p.xmlId, p.name, p.active])).toEqual([['p-1', 'Товар один', 'Y'], ['p-2', 'Товар p-2', 'N'], ['p-3', 'Товар p-3', 'Y']]);
    expect(s.server.prices.all().map((p) => p.price)).toEqual([150, 200, 350]);

    expect(s.loseLinks()).toBeGreaterThan(0);
    await s.publish('product', [product('p-1', v3, 150, 'Товар один'), product('p-2', v3, 0, '', 'delete'), product('p-4', v3, 400)]);
    expect((await s.cli('product')).summary).toMatchObject({ read: 3, written: 3, exitCode: 0 });
    expect(s.server.products.all().map((p) => [p.xmlId, p.name, p.active])).toEqual([['p-1', 'Товар один', 'Y'], ['p-2', 'Товар p-2', 'N'], ['p-3', 'Товар p-3', 'Y'], ['p-4', 'Товар p-4', 'Y']]);
    expect(s.server.prices.all().map((p) => [p.productId, p.price])).toEqual([[1, 150], [2, 200], [3, 350], [4, 400]]);
    expect(await broker.depth(`${s.queue('product')}.dlq`)).toBe(0);
  });

  it('mutual settlements → deals (+ one per order): create, redeliver, update, delete, lost links, a rate-limited command', async () => {
    const s = await crmRoutes();
    await s.publish('user', [user('cp-1', v1)]);
    expect((await s.cli('user')).code).toBe(0);
    await s.publish('mutualsettlements', [settlement('d-1', v1, 100, ['o-1']), settlement('d-2', v1, 200, ['o-1', 'o-2'])]);
    expect((await s.cli('mutualsettlements')).summary).toMatchObject({ read: 2, written: 2, exitCode: 0 });
    const deals = () => s.server.deals.all().map((d) => [d.ORIGIN_ID, d.OPPORTUNITY ?? null, d.COMPANY_ID]);
    expect(deals()).toEqual([['d-1', '100', '1'], ['o-1', null, '1'], ['d-2', '200', '1'], ['o-2', null, '1']]);

    s.server.resetCounters();
    await s.publish('mutualsettlements', [settlement('d-1', v1, 100, ['o-1']), settlement('d-2', v1, 200, ['o-1', 'o-2'])]);
    expect((await s.cli('mutualsettlements')).summary).toMatchObject({ read: 2, unchanged: 2, exitCode: 0 });
    expect(s.server.counters.requests).toBe(0);

    let limited = 0;
    s.server.failCommand = (method, params) =>
      method === 'crm.deal.update' && Number(params.id) === 3 && limited++ === 0 ? { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' } : undefined;
    await s.publish('mutualsettlements', [settlement('d-1', v2, 0, [], 'delete'), settlement('d-2', v2, 250, ['o-2'])]);
    expect((await s.cli('mutualsettlements', '--idle-ms', '2000')).summary).toMatchObject({ read: 3, unchanged: 1, written: 1, retried: 1, deadLettered: 0, exitCode: 1 });
    expect(limited).toBe(2);
    expect(await broker.depth(s.queue('mutualsettlements'))).toBe(0);
    expect(deals()).toEqual([['d-1', '100', '1'], ['o-1', null, '1'], ['d-2', '250', '1'], ['o-2', null, '1']]);

    expect(s.loseLinks()).toBeGreaterThan(0);
    await s.publish('mutualsettlements', [settlement('d-2', v3, 260, ['o-2', 'o-3'])]);
    expect((await s.cli('mutualsettlements')).summary).toMatchObject({ read: 1, written: 1, exitCode: 0 });
    expect(deals()).toEqual([['d-1', '100', '1'], ['o-1', null, '1'], ['d-2', '260', '1'], ['o-2', null, '1'], ['o-3', null, '1']]);
    expect(await broker.depth(`${s.queue('mutualsettlements')}.dlq`)).toBe(0);
  });

  it.each<Route>(['user', 'product', 'mutualsettlements'])('%s: an outage and a refused webhook stop the run with 69; every message stays queued with its attempts as they were', async (route) => {
    const s = await crmRoutes();
    if (route === 'mutualsettlements') {
      await s.publish('user', [user('cp-1', v1)]);
      expect((await s.cli('user')).code).toBe(0);
    }
    const bodies = [1, 2, 3, 4, 5].map((n) => (route === 'user' ? user(`u-${n}`, v1) : route === 'product' ? product(`p-${n}`, v1, n * 10) : settlement(`d-${n}`, v1, n * 10, [])));
    await s.publish(route, bodies.slice(0, 3));
    // Two of them come back from .retry once already: their attempt count must not move.
    await s.publish(route, bodies.slice(3), { 'exchange-attempts': 1 });
    const attempts = async () => (await broker.peekAll(s.queue(route))).map((m) => m.properties.headers?.['exchange-attempts'] ?? 0).sort();
    expect(await attempts()).toEqual([0, 0, 0, 1, 1]);
    const before = { companies: s.server.companies.rows.size, products: s.server.products.rows.size, deals: s.server.deals.rows.size };

    const stopsWith69 = async (why: RegExp) => {
      const result = await s.cli(route);
      expect(result.code).toBe(69);
      expect(result.json.find((e) => e.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
      expect(result.stdout + result.stderr).toMatch(why);
      expect(result.stdout + result.stderr).not.toContain(s.server.code);
      await broker.waitForDepth(s.queue(route), 5);
      expect(await attempts()).toEqual([0, 0, 0, 1, 1]);
      expect(await broker.depth(`${s.queue(route)}.retry`)).toBe(0);
      expect(await broker.depth(`${s.queue(route)}.dlq`)).toBe(0);
    };
    // The portal is down: connections refused.
    await s.server.stop();
    await stopsWith69(/ECONNREFUSED|other side closed/);
    await s.server.start();
    // Back, but the webhook is refused (deleted, expired) or the portal fails every request.
    s.server.authFailure = 'expired_token';
    await stopsWith69(/expired_token/);
    s.server.authFailure = undefined;
    s.server.failNext = 1000;
    await stopsWith69(/HTTP 500 INTERNAL_SERVER_ERROR/);
    s.server.failNext = 0;
    expect({ companies: s.server.companies.rows.size, products: s.server.products.rows.size, deals: s.server.deals.rows.size }).toEqual(before);

    // Fixed: the next run writes them all, once.
    expect((await s.cli(route)).summary).toMatchObject({ read: 5, written: 5, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(await broker.depth(s.queue(route))).toBe(0);
  });
});
