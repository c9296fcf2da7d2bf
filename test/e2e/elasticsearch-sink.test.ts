import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { drainUntil } from '../support/drain-until.js';
import { ElasticsearchTestServer } from '../support/elasticsearch-server.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function productBody(id: string, overrides: { version?: string; op?: 'upsert' | 'delete'; name?: string } = {}): string {
  const op = overrides.op ?? 'upsert';
  return JSON.stringify({
    type: 'product', op, id, version: overrides.version ?? '2026-11-22T10:15:00.000Z', source: 'test', occurredAt: '2026-11-22T10:15:03.120Z',
    ...(op === 'upsert' ? {
      data: {
        name: overrides.name ?? `Кабель ВВГнг ${id}`, sku: `SKU-${id}`, description: 'Кабель силовой медный', groupIds: ['g-cable'], unit: 'м',
        prices: [{ typeId: 'retail', type: 'Розничная', value: 99.9, currency: 'RUB' }], stock: 120, properties: { Сечение: '3x2.5' }, deleted: false,
      },
    } : {}),
  });
}

/** Each test: its own tenant (queues and index names), its own Elasticsearch test server and working folder. */
async function scenario(options: { apiKey?: string; config?: Record<string, unknown> } = {}) {
  const server = await ElasticsearchTestServer.start(options.apiKey ? { apiKey: options.apiKey } : {});
  const tenant = uniqueName('t');
  const work = tempWorkdir({
    amqp: { retryDelayMs: 300, maxAttempts: 3 },
    drain: { idleMs: 1500 },
    routes: { product: ['records', 'elasticsearch'] },
    ...(options.apiKey ? { elasticsearch: { apiKey: options.apiKey } } : {}),
    ...options.config,
  });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_ELASTICSEARCH_URL: server.url };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 60_000 });
  cleanups.push(async () => { await broker.deleteTenant(tenant, ['records', 'elasticsearch']); await server.close(); work.remove(); });
  const alias = `${tenant}.products`;
  const count = async () => ((await (await fetch(`${server.url}/${alias}/_count`)).json()) as { count: number }).count;
  const doc = async (id: string) => {
    const response = await fetch(`${server.url}/${alias}/_doc/${encodeURIComponent(id)}`);
    return { status: response.status, body: (await response.json()) as { found: boolean; _version?: number; _source?: Record<string, unknown> } };
  };
  return { server, tenant, work, cli, alias, count, doc, exchange: `${tenant}.product`, queue: `${tenant}.product.elasticsearch`, recordsQueue: `${tenant}.product.records` };
}

describe('exchange product through the elasticsearch sink (built binary, real RabbitMQ, test Elasticsearch)', () => {
  it('setup creates the index behind its alias, --check reports a missing alias, --sink elasticsearch fills the index only', async () => {
    const s = await scenario();
    const setup = await s.cli('setup', '--json');
    expect(setup.code, setup.stderr).toBe(0);
    expect(JSON.stringify(setup.json)).toContain(`${s.alias}-v1 created`);
    expect(s.server.aliasTargets(s.alias)).toEqual([`${s.alias}-v1`]);
    expect((await s.cli('setup')).code).toBe(0);
    expect((await s.cli('setup', '--check')).code).toBe(0);

    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-2', 'p-3'].map((id) => productBody(id)));
    await broker.publishMany(s.exchange, 'product.delete', [productBody('p-3', { op: 'delete', version: '2026-11-23T00:00:00.000Z' })]);
    const result = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.summary).toMatchObject({ read: 4, written: 4, deadLettered: 0, retried: 0, exitCode: 0 });
    expect(await s.count()).toBe(2);
    const p1 = await s.doc('p-1');
    expect(p1.body).toMatchObject({ found: true, _version: Date.parse('2026-11-22T10:15:00.000Z'), _source: { id: 'p-1', name: 'Кабель ВВГнг p-1', sku: 'SKU-p-1' } });
    expect((await s.doc('p-3')).status).toBe(404);
    // The other route kept its copy: each route drains on its own.
    expect(await broker.depth(s.recordsQueue)).toBe(4);
    expect(await broker.depth(s.queue)).toBe(0);

    await fetch(`${s.server.url}/_aliases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ actions: [{ remove: { index: `${s.alias}-v1`, alias: s.alias } }] }) });
    const check = await s.cli('setup', '--check');
    expect(check.code).toBe(78);
    expect(check.stderr).toContain(`elasticsearch alias ${s.alias}: missing (run exchange setup)`);
  }, 120_000);

  it('plain `exchange product` drains every product route: the record store and the index', async () => {
    const s = await scenario();
    expect((await s.cli('setup')).code).toBe(0);
    await broker.publishMany(s.exchange, 'product.upsert', ['a', 'b', 'c'].map((id) => productBody(id)));
    const result = await s.cli('product', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.summary).toMatchObject({ read: 6, written: 6, exitCode: 0 });
    expect(await s.count()).toBe(3);
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('3');
    expect(await broker.depth(s.queue)).toBe(0);
    expect(await broker.depth(s.recordsQueue)).toBe(0);
  }, 120_000);

  it('dead-letters a document the cluster refuses, alone; its batch is indexed', async () => {
    const s = await scenario();
    await s.cli('setup');
    s.server.poison('p-poison');
    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-poison', 'p-2'].map((id) => productBody(id)));
    const result = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(result.code).toBe(1);
    expect(result.summary).toMatchObject({ read: 3, written: 2, deadLettered: 1, retried: 0 });
    expect(await s.count()).toBe(2);
    const parked = await broker.takeAll(`${s.queue}.dlq`);
    expect(parked).toHaveLength(1);
    expect(JSON.parse(parked[0].content.toString()).id).toBe('p-poison');
    expect(parked[0].properties.headers).toMatchObject({ 'exchange-error-code': 'ES_DOCUMENT_PARSING_EXCEPTION', 'exchange-queue': s.queue });
    expect(String(parked[0].properties.headers!['exchange-error'])).toContain('failed to parse field');
  }, 120_000);

  it('sends items answered 429 through .retry; they come back and land', async () => {
    const s = await scenario();
    await s.cli('setup');
    s.server.reject429(['p-2'], 1);
    s.server.rejectNextItems(1);
    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-2', 'p-3'].map((id) => productBody(id)));
    // Runs until the retried messages are back from .retry and written: a deadline, not a hope that the round
    // trip fits one run's idle window on a busy machine.
    const result = await drainUntil(() => s.cli('product', '--sink', 'elasticsearch', '--json'), async () => (await broker.depth(`${s.queue}.retry`)) === 0 && (await broker.depth(s.queue)) === 0);
    expect(result.runs[0].code, result.runs[0].stderr).toBe(1);
    // p-1 (the next item rejected) and p-2 (rejected by id) go round once through .retry.
    expect(result.totals).toMatchObject({ read: 5, written: 3, retried: 2, deadLettered: 0 });
    expect(s.server.counters.rejectedItems).toBe(2);
    expect(await s.count()).toBe(3);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
  }, 120_000);

  it('stops with 69 when the whole request fails (503): nothing acked, nothing to .retry; the rerun indexes it when the cluster is back', async () => {
    const s = await scenario();
    await s.cli('setup');
    // Two: the client retries a 503 once at once (on another node of a real cluster) before giving up.
    s.server.failNextRequests(2, 503);
    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-2'].map((id) => productBody(id)));
    const result = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(result.code, result.stderr).toBe(69);
    expect(result.json.find((event) => event.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect(s.server.counters.failedRequests).toBe(2);
    await broker.waitForDepth(s.queue, 2);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
    const rerun = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.summary).toMatchObject({ read: 2, written: 2, retried: 0, deadLettered: 0 });
    expect(await s.count()).toBe(2);
  }, 120_000);

  it('makes no duplicates on redelivery and counts an older version as stale', async () => {
    const s = await scenario();
    await s.cli('setup');
    const bodies = ['p-1', 'p-2', 'p-3'].map((id) => productBody(id, { version: '2026-11-22T12:00:00.000Z' }));
    await broker.publishMany(s.exchange, 'product.upsert', bodies);
    expect((await s.cli('product', '--sink', 'elasticsearch')).code).toBe(0);
    await broker.publishMany(s.exchange, 'product.upsert', [...bodies, productBody('p-1', { version: '2026-11-22T11:00:00.000Z', name: 'старое' })]);
    const again = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ read: 4, written: 3, stale: 1 });
    expect(await s.count()).toBe(3);
    expect((await s.doc('p-1')).body).toMatchObject({ _version: Date.parse('2026-11-22T12:00:00.000Z'), _source: { name: 'Кабель ВВГнг p-1' } });
  }, 120_000);

  it('stops with exit 69 and acks nothing when the cluster refuses the credentials', async () => {
    const s = await scenario({ apiKey: 'ZXhjaGFuZ2U6c2VjcmV0LWtleQ==' });
    expect((await s.cli('setup')).code).toBe(0);
    s.server.revokeCredentials();
    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-2'].map((id) => productBody(id)));
    const result = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(result.code).toBe(69);
    expect(result.json.find((event) => event.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect(result.stdout + result.stderr).not.toContain('ZXhjaGFuZ2U6c2VjcmV0LWtleQ==');
    await broker.waitForDepth(s.queue, 2);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
  }, 120_000);

  it('setup --reindex moves the documents to the next index version and swaps the alias', async () => {
    const s = await scenario();
    await s.cli('setup');
    await broker.publishMany(s.exchange, 'product.upsert', ['p-1', 'p-2'].map((id) => productBody(id)));
    expect((await s.cli('product', '--sink', 'elasticsearch')).code).toBe(0);
    const reindex = await s.cli('setup', '--reindex', '--json');
    expect(reindex.code, reindex.stderr).toBe(0);
    expect(JSON.stringify(reindex.json)).toContain(`${s.alias} → ${s.alias}-v2 (was ${s.alias}-v1)`);
    expect(s.server.aliasTargets(s.alias)).toEqual([`${s.alias}-v2`]);
    expect(await s.count()).toBe(2);
    expect(s.server.indices.has(`${s.alias}-v1`)).toBe(true);
    await broker.publishMany(s.exchange, 'product.upsert', [productBody('p-3')]);
    expect((await s.cli('product', '--sink', 'elasticsearch')).code).toBe(0);
    expect(s.server.count(`${s.alias}-v2`)).toBe(3);
    expect((await s.cli('setup', '--check')).code).toBe(0);
  }, 120_000);
});
