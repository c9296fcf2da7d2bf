import type { GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { drainUntil } from '../support/drain-until.js';
import { ElasticsearchTestServer } from '../support/elasticsearch-server.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * The product route into Elasticsearch end to end: the built binary drains RabbitMQ into the stand-in. Every
 * error class of the sink (docs/elasticsearch-sink.md, "Failures") through the real CLI.
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

const t0 = '2026-11-22T10:00:00.000Z';
const t1 = '2026-11-22T11:00:00.000Z';
const t2 = '2026-11-22T12:00:00.000Z';

function productBody(id: string, overrides: { version?: string; op?: 'upsert' | 'delete'; name?: string } = {}): string {
  const op = overrides.op ?? 'upsert';
  return JSON.stringify({
    type: 'product', op, id, version: overrides.version ?? t0, source: '1c', occurredAt: '2026-11-22T10:15:03.120Z',
    ...(op === 'upsert' ? {
      data: {
        name: overrides.name ?? `Кабель ВВГнг ${id}`, sku: `SKU-${id}`, description: 'Кабель силовой медный', groupIds: ['g-cable'], unit: 'м',
        prices: [{ typeId: 'retail', type: 'Розничная', value: 99.9, currency: 'RUB' }], stock: 120, properties: { Сечение: '3x2.5' }, deleted: false,
      },
    } : {}),
  });
}

async function scenario(options: { apiKey?: string; config?: Record<string, unknown>; routes?: string[] } = {}) {
  const server = await ElasticsearchTestServer.start(options.apiKey ? { apiKey: options.apiKey } : {});
  const tenant = uniqueName('t');
  const sinks = options.routes ?? ['elasticsearch'];
  const work = tempWorkdir({
    amqp: { retryDelayMs: 300, maxAttempts: 3 },
    drain: { idleMs: 1500 },
    routes: { product: sinks },
    elasticsearch: { timeoutMs: 2000, ...(options.apiKey ? { apiKey: options.apiKey } : {}) },
    ...options.config,
  });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_ELASTICSEARCH_URL: server.url };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 90_000 });
  cleanups.push(async () => { await broker.deleteTenant(tenant, sinks); await server.close(); work.remove(); });
  const alias = `${tenant}.products`;
  const queue = `${tenant}.product.elasticsearch`;
  const exchange = `${tenant}.product`;
  /** Publishes with an attempts header, as a message that already went round `.retry` would carry. */
  const publish = async (routingKey: string, body: string, attempts?: number) =>
    broker.publish(exchange, routingKey, body, attempts === undefined ? {} : { headers: { 'exchange-attempts': attempts } });
  const snapshot = () => [...(server.indices.get(`${alias}-v1`)?.docs ?? new Map())].map(([id, doc]) => ({ id, version: doc.version, source: doc.source })).sort((a, b) => a.id.localeCompare(b.id));
  return { server, tenant, work, cli, alias, queue, exchange, publish, snapshot };
}

/** id → exchange-attempts (undefined when absent) of every message in a queue, left in place. */
async function attemptsIn(queue: string): Promise<Record<string, unknown>> {
  const messages: GetMessage[] = await broker.peekAll(queue);
  return Object.fromEntries(messages.map((message) => [JSON.parse(message.content.toString()).id as string, message.properties.headers?.['exchange-attempts']]));
}

async function expectUntouched(s: Awaited<ReturnType<typeof scenario>>, expected: Record<string, unknown>): Promise<void> {
  await broker.waitForDepth(s.queue, Object.keys(expected).length);
  expect(await attemptsIn(s.queue)).toEqual(expected);
  expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
  expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
}

describe('products → Elasticsearch through the built CLI', () => {
  it('creates, updates, deletes, counts an older version stale, and a second run changes nothing', async () => {
    const s = await scenario();
    expect((await s.cli('setup')).code).toBe(0);
    expect(s.server.settingsOf(`${s.alias}-v1`)).toMatchObject({ 'index.gc_deletes': '7d' });
    for (const id of ['p-1', 'p-2', 'p-3']) await s.publish('product.upsert', productBody(id));
    const created = await s.cli('product', '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(created.summary).toMatchObject({ read: 3, written: 3, stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(s.server.count(s.alias)).toBe(3);

    await s.publish('product.upsert', productBody('p-1', { version: t1, name: 'Кабель ВВГнг-LS 3x2.5' }));
    await s.publish('product.delete', productBody('p-2', { op: 'delete', version: t1 }));
    // Reordered on the way: an upsert older than the update and one older than the delete.
    await s.publish('product.upsert', productBody('p-1', { version: t0, name: 'старое' }));
    await s.publish('product.upsert', productBody('p-2', { version: t0 }));
    const changed = await s.cli('product', '--json');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.summary).toMatchObject({ read: 4, written: 2, stale: 2, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(s.server.count(s.alias)).toBe(2);
    expect(s.server.document(s.alias, 'p-1')).toMatchObject({ version: Date.parse(t1), source: { name: 'Кабель ВВГнг-LS 3x2.5', version: t1 } });
    expect(s.server.document(s.alias, 'p-2')).toBeUndefined();
    const before = s.snapshot();

    const idle = await s.cli('product', '--json');
    expect(idle.code).toBe(0);
    expect(idle.summary).toMatchObject({ read: 0, written: 0 });
    // Redelivered as they are: the same versions rewrite the same documents, nothing else moves.
    await s.publish('product.upsert', productBody('p-1', { version: t1, name: 'Кабель ВВГнг-LS 3x2.5' }));
    await s.publish('product.delete', productBody('p-2', { op: 'delete', version: t1 }));
    await s.publish('product.upsert', productBody('p-3'));
    const again = await s.cli('product', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ read: 3, stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(s.snapshot()).toEqual(before);
    expect(await broker.depth(s.queue)).toBe(0);
  }, 180_000);

  it('per-item 429: the item goes round .retry once and is then written; a mapping refusal goes to the dlq alone', async () => {
    const s = await scenario();
    await s.cli('setup');
    s.server.reject429(['p-2', 'p-3'], 1);
    s.server.poison('p-bad');
    for (const id of ['p-1', 'p-2', 'p-3']) await s.publish('product.upsert', productBody(id));
    await s.publish('product.upsert', productBody('p-bad'));
    // Runs until the retried items are back and written (a deadline, not an idle window that must fit the round trip).
    const result = await drainUntil(() => s.cli('product', '--json'), async () => (await broker.depth(`${s.queue}.retry`)) === 0 && (await broker.depth(s.queue)) === 0);
    expect(result.runs[0].code, result.runs[0].stderr).toBe(1);
    expect(result.totals).toMatchObject({ read: 6, written: 3, retried: 2, deadLettered: 1 });
    expect(s.server.counters.rejectedItems).toBe(2);
    expect(s.server.count(s.alias)).toBe(3);
    expect(await broker.depth(s.queue)).toBe(0);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    const parked = await broker.takeAll(`${s.queue}.dlq`);
    expect(parked.map((message) => JSON.parse(message.content.toString()).id)).toEqual(['p-bad']);
    expect(parked[0].properties.headers).toMatchObject({ 'exchange-error-code': 'ES_DOCUMENT_PARSING_EXCEPTION', 'exchange-queue': s.queue });
  }, 180_000);

  it('an outage (connections refused) stops the run with 69: every message stays in the queue with its attempts, nothing in .retry or the dlq', async () => {
    const s = await scenario();
    expect((await s.cli('setup')).code).toBe(0);
    await s.publish('product.upsert', productBody('p-1'));
    await s.publish('product.upsert', productBody('p-2'), 2);
    await s.publish('product.delete', productBody('p-3', { op: 'delete' }), 1);
    await s.server.stop();
    try {
      const result = await s.cli('product', '--json');
      expect(result.code, result.stderr).toBe(69);
      expect(result.json.find((event) => event.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
      await expectUntouched(s, { 'p-1': undefined, 'p-2': 2, 'p-3': 1 });
    } finally {
      await s.server.resume();
    }
    const after = await s.cli('product', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(after.summary).toMatchObject({ read: 3, written: 3, retried: 0, deadLettered: 0 });
    expect(s.server.count(s.alias)).toBe(2);
  }, 180_000);

  it('a cluster that answers every bulk 503, 429 or not at all (timeout) stops the run with 69, attempts unchanged; the rerun writes everything', async () => {
    const s = await scenario();
    await s.cli('setup');
    await s.publish('product.upsert', productBody('p-1'), 1);
    await s.publish('product.upsert', productBody('p-2'));
    for (const failure of ['503', '429', 'timeout'] as const) {
      if (failure === 'timeout') s.server.hangNextRequests(1);
      // Two for 503: the client retries a 502/503/504 once at once (another node of a real cluster).
      else s.server.failNextRequests(failure === '503' ? 2 : 1, Number(failure));
      const result = await s.cli('product', '--json');
      expect(result.code, `${failure}: ${result.stderr}`).toBe(69);
      expect(result.stderr + result.stdout).toContain(failure === 'timeout' ? 'timed out' : `HTTP ${failure}`);
      await expectUntouched(s, { 'p-1': 1, 'p-2': undefined });
    }
    expect(s.server.count(s.alias)).toBe(0);
    const after = await s.cli('product', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(after.summary).toMatchObject({ read: 2, written: 2, retried: 0 });
    expect(s.server.count(s.alias)).toBe(2);
  }, 180_000);

  it('refused credentials (401) or a missing write privilege (403) stop the run with 69, attempts unchanged', async () => {
    const s = await scenario({ apiKey: 'ZXhjaGFuZ2U6c2VjcmV0LWtleQ==' });
    expect((await s.cli('setup')).code).toBe(0);
    await s.publish('product.upsert', productBody('p-1'), 3);
    await s.publish('product.upsert', productBody('p-2'));
    s.server.forbidWrites();
    const forbidden = await s.cli('product', '--json');
    expect(forbidden.code, forbidden.stderr).toBe(69);
    expect(forbidden.stderr + forbidden.stdout).toContain('refused the credentials');
    await expectUntouched(s, { 'p-1': 3, 'p-2': undefined });
    s.server.clearFailures();
    s.server.revokeCredentials();
    const revoked = await s.cli('product', '--json');
    expect(revoked.code).toBe(69);
    expect(revoked.stdout + revoked.stderr).not.toContain('ZXhjaGFuZ2U6c2VjcmV0LWtleQ==');
    await expectUntouched(s, { 'p-1': 3, 'p-2': undefined });
    // setup against the same cluster: the same class.
    expect((await s.cli('setup', '--check')).code).toBe(69);
    expect(s.server.count(s.alias)).toBe(0);
  }, 180_000);

  it('setup against a stopped cluster exits 69', async () => {
    const s = await scenario();
    await s.server.stop();
    try {
      const result = await s.cli('setup', '--json');
      expect(result.code, result.stderr).toBe(69);
      expect(result.json.find((event) => event.event === 'error')).toMatchObject({ code: 'SINK_UNAVAILABLE' });
    } finally {
      await s.server.resume();
    }
  }, 120_000);

  it('setup --reindex carries a delete drained while it copies into the new index; a stale upsert after it stays out', async () => {
    const s = await scenario({ routes: ['records', 'elasticsearch'] });
    expect((await s.cli('setup')).code).toBe(0);
    for (const id of ['p-1', 'p-2', 'p-3']) await s.publish('product.upsert', productBody(id));
    expect((await s.cli('product')).code).toBe(0);

    s.server.holdReindexTasks();
    const reindex = s.cli('setup', '--reindex', '--json');
    try {
      await waitFor('the copy to start', () => s.server.counters.reindexes === 1, 60_000);
      await s.publish('product.delete', productBody('p-2', { op: 'delete', version: t2 }));
      const drained = await s.cli('product', '--json');
      expect(drained.code, drained.stderr).toBe(0);
      expect(drained.summary).toMatchObject({ read: 2, written: 2 });
      expect(s.server.document(`${s.alias}-v1`, 'p-2')).toBeUndefined();
    } finally {
      s.server.releaseReindexTasks();
    }
    const reindexed = await reindex;
    expect(reindexed.code, reindexed.stderr).toBe(0);
    expect(JSON.stringify(reindexed.json)).toContain(`applied 1 delete known to the record store to ${s.alias}-v2`);
    expect(s.server.aliasTargets(s.alias)).toEqual([`${s.alias}-v2`]);
    expect(s.server.document(`${s.alias}-v2`, 'p-2')).toBeUndefined();
    expect(s.server.count(s.alias)).toBe(2);

    await s.publish('product.upsert', productBody('p-2', { version: t1 }));
    const stale = await s.cli('product', '--sink', 'elasticsearch', '--json');
    expect(stale.code, stale.stderr).toBe(0);
    expect(stale.summary).toMatchObject({ read: 1, stale: 1, written: 0 });
    expect(s.server.count(s.alias)).toBe(2);
  }, 180_000);
});
