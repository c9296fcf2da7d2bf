import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { ExchangeError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import type { Envelope } from '../../src/messages/envelope.js';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';
import { elasticsearchSinkPlugin, reindexProducts } from '../../src/sinks/elasticsearch/elasticsearch-sink.js';
import type { Sink, SinkContext } from '../../src/sinks/sink.js';
import { waitFor } from '../support/chaos.js';
import { ElasticsearchTestServer } from '../support/elasticsearch-server.js';

let server: ElasticsearchTestServer;
const opened: Sink[] = [];
beforeEach(async () => { server = await ElasticsearchTestServer.start(); });
afterEach(async () => {
  for (const sink of opened.splice(0)) await sink.close();
  await server.close();
});

const alias = 'shop1.products';

function contextFor(url: string, elasticsearch: Record<string, unknown> = {}): SinkContext {
  const config = parseConfig({ tenant: 'Shop1', routes: { product: ['elasticsearch'] }, elasticsearch: { node: url, timeoutMs: 5000, ...elasticsearch } });
  // The elasticsearch sink never touches the record store.
  return { config, recordStore: undefined as unknown as RecordStore, reporter: silentReporter };
}

async function openSink(context = contextFor(server.url)): Promise<Sink> {
  const sink = await elasticsearchSinkPlugin.open(context);
  opened.push(sink);
  return sink;
}

function product(id: string, overrides: { version?: string; op?: 'upsert' | 'delete'; data?: Record<string, unknown> } = {}): Envelope {
  return {
    type: 'product', op: overrides.op ?? 'upsert', id, version: overrides.version ?? '2026-11-22T10:15:00.000Z', source: 'test',
    occurredAt: '2026-11-22T10:15:03.120Z',
    data: overrides.op === 'delete' ? null : {
      name: `Товар ${id}`, sku: `SKU-${id}`, description: 'Подробное описание товара', groupIds: ['g-1'], unit: 'шт', barcode: '4600000000001',
      prices: [{ typeId: 'retail', type: 'Розничная', value: 1250.5, currency: 'RUB' }], stock: 7, properties: { Цвет: 'красный' },
      characteristics: [{ name: 'Размер', value: 'XL' }], deleted: false, ...overrides.data,
    },
  };
}

describe('setup of the product index', () => {
  it('creates <tenant.>products-v1 with an explicit mapping behind the alias, idempotently, and check then finds nothing', async () => {
    const context = contextFor(server.url);
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([`elasticsearch alias ${alias}: missing (run exchange setup)`]);
    const first = await elasticsearchSinkPlugin.setup!(context);
    expect(first.join('\n')).toContain(`${alias}-v1 created`);
    expect(server.aliasTargets(alias)).toEqual([`${alias}-v1`]);
    const mapping = server.mappingOf(`${alias}-v1`)!;
    expect(mapping.dynamic).toBe(false);
    expect(mapping.properties!.name).toMatchObject({ type: 'text', analyzer: 'russian' });
    expect(mapping.properties!.description).toMatchObject({ type: 'text', analyzer: 'russian' });
    for (const field of ['id', 'sku', 'barcode', 'groupIds', 'parentId']) expect(mapping.properties![field].type).toBe('keyword');
    expect(mapping.properties!.prices).toMatchObject({ type: 'nested', properties: { value: { type: 'double' }, currency: { type: 'keyword' } } });
    expect(mapping.properties!.stock.type).toBe('double');
    expect(mapping.properties!.deleted.type).toBe('boolean');
    expect(server.settingsOf(`${alias}-v1`)).toMatchObject({ 'index.number_of_shards': '1', 'index.number_of_replicas': '1' });

    const again = await elasticsearchSinkPlugin.setup!(context);
    expect(again).toEqual([`elasticsearch alias ${alias} → ${alias}-v1: ok`]);
    expect([...server.indices.keys()]).toEqual([`${alias}-v1`]);
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([]);
  });

  it('brings index.gc_deletes of an existing index to elasticsearch.gcDeletes (a dynamic setting); check reports the difference', async () => {
    // An index of an older build: tombstones kept for an hour only.
    server.createIndex(`${alias}-v1`, { settings: { 'index.gc_deletes': '1h' }, mappings: { _meta: { mappingVersion: 1 } }, aliases: { [alias]: {} } });
    const context = contextFor(server.url);
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([`elasticsearch index ${alias}-v1: index.gc_deletes is 1h, elasticsearch.gcDeletes says 7d (run exchange setup)`]);
    expect(await elasticsearchSinkPlugin.setup!(context)).toContain(`elasticsearch index ${alias}-v1: index.gc_deletes 1h → 7d`);
    expect(server.settingsOf(`${alias}-v1`)).toMatchObject({ 'index.gc_deletes': '7d' });
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([]);
    expect(await elasticsearchSinkPlugin.setup!(context)).toEqual([`elasticsearch alias ${alias} → ${alias}-v1: ok`]);
  });

  it('check names an index squatting on the alias name and a mapping older than this build', async () => {
    const context = contextFor(server.url);
    server.createIndex(alias);
    expect((await elasticsearchSinkPlugin.check!(context))[0]).toContain('is an index, not an alias');
    await expect(elasticsearchSinkPlugin.setup!(context)).rejects.toMatchObject({ code: 'TOPOLOGY_MISMATCH' });
    server.indices.delete(alias);
    server.createIndex(`${alias}-v1`, { mappings: { _meta: { mappingVersion: 0 }, properties: { name: { type: 'text' } } }, aliases: { [alias]: {} } });
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([
      `elasticsearch index ${alias}-v1: mapping version 0, this build writes version 1 (run exchange setup --reindex)`,
      `elasticsearch index ${alias}-v1: index.gc_deletes is 60s, elasticsearch.gcDeletes says 7d (run exchange setup)`,
    ]);
  });
});

describe('the elasticsearch sink against the test server', () => {
  beforeEach(async () => { await elasticsearchSinkPlugin.setup!(contextFor(server.url)); });

  it('indexes through the alias with _id = 1C id and the version as external version; deletes delete, a missing one is fine', async () => {
    const sink = await openSink();
    const results = await sink.write([product('p-1'), product('p-2'), product('p-3', { version: '000042' })]);
    expect(results).toEqual([{ status: 'written' }, { status: 'written' }, { status: 'written' }]);
    expect(server.count(alias)).toBe(3);
    const doc = server.document(alias, 'p-1')!;
    expect(doc.version).toBe(Date.parse('2026-11-22T10:15:00.000Z'));
    expect(doc.source).toMatchObject({ id: 'p-1', name: 'Товар p-1', version: '2026-11-22T10:15:00.000Z', updatedAt: '2026-11-22T10:15:03.120Z', prices: [{ value: 1250.5 }] });
    expect(server.document(alias, 'p-3')!.version).toBe(42);
    expect(server.counters.bulkRequests).toBe(1);

    const deletes = await sink.write([product('p-2', { op: 'delete', version: '2026-11-23T00:00:00.000Z' }), product('never-there', { op: 'delete' })]);
    expect(deletes).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(server.count(alias)).toBe(2);
    const response = await fetch(`${server.url}/${alias}/_doc/p-2`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ found: false });
  });

  it('refuses an older version (stale), rewrites an equal one (redelivery: no duplicate), and a delete tombstone refuses older upserts', async () => {
    const sink = await openSink();
    await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z', data: { name: 'новое имя' } })]);
    const older = await sink.write([product('p-1', { version: '2026-11-22T11:00:00.000Z', data: { name: 'старое имя' } })]);
    expect(older).toEqual([{ status: 'stale' }]);
    expect(server.document(alias, 'p-1')!.source.name).toBe('новое имя');
    const redelivered = await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z', data: { name: 'новое имя' } })]);
    expect(redelivered).toEqual([{ status: 'written' }]);
    expect(server.count(alias)).toBe(1);

    await sink.write([product('p-1', { op: 'delete', version: '2026-11-22T13:00:00.000Z' })]);
    expect(await sink.write([product('p-1', { version: '2026-11-22T12:30:00.000Z' })])).toEqual([{ status: 'stale' }]);
    expect(server.count(alias)).toBe(0);
    expect(await sink.write([product('p-1', { version: '2026-11-22T14:00:00.000Z' })])).toEqual([{ status: 'written' }]);
    expect(server.count(alias)).toBe(1);
  });

  it('retries only the items answered 429, writes the rest of the batch', async () => {
    const sink = await openSink();
    server.reject429(['p-2'], 1);
    const results = await sink.write([product('p-1'), product('p-2'), product('p-3')]);
    expect(results[0]).toEqual({ status: 'written' });
    expect(results[1]).toMatchObject({ status: 'retry', code: 'ES_RATE_LIMITED' });
    expect((results[1] as { reason: string }).reason).toContain('es_rejected_execution_exception');
    expect(results[2]).toEqual({ status: 'written' });
    expect(server.count(alias)).toBe(2);
    expect(await sink.write([product('p-2')])).toEqual([{ status: 'written' }]);
    expect(server.count(alias)).toBe(3);
  });

  it('fails only the document the mapping refuses, with the reason, as a real cluster and as the poison switch', async () => {
    const sink = await openSink();
    server.poison('p-poison');
    const results = await sink.write([product('p-1'), product('p-poison'), product('p-bad-stock', { data: { stock: 'много' } }), product('p-2')]);
    expect(results[0]).toEqual({ status: 'written' });
    expect(results[1]).toMatchObject({ status: 'fail', code: 'ES_DOCUMENT_PARSING_EXCEPTION' });
    expect(results[2]).toMatchObject({ status: 'fail', code: 'ES_DOCUMENT_PARSING_EXCEPTION' });
    expect((results[2] as { reason: string }).reason).toMatch(/failed to parse field \[stock\] of type \[double\].*number_format_exception/);
    expect(results[3]).toEqual({ status: 'written' });
    expect(server.count(alias)).toBe(2);
  });

  it('keeps fields it does not know in _source without indexing them (dynamic: false)', async () => {
    const sink = await openSink();
    expect(await sink.write([product('p-1', { data: { versionNumber: 'AAAAAQ==', manufacturer: { name: 'Завод' } } })])).toEqual([{ status: 'written' }]);
    expect(server.document(alias, 'p-1')!.source).toMatchObject({ versionNumber: 'AAAAAQ==', manufacturer: { name: 'Завод' } });
  });

  it('stops the run (SINK_UNAVAILABLE, exit 69) when the request as a whole fails (503, 429, 500) or times out: no item costs an attempt', async () => {
    const sink = await openSink();
    server.failNextRequests(10, 503);
    const down = await sink.write([product('p-1'), product('p-2')]).catch((error: unknown) => error);
    expect(down).toBeInstanceOf(ExchangeError);
    expect(down).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect((down as Error).message).toContain('HTTP 503 cluster_block_exception');
    server.clearFailures();
    // A coordinating node out of indexing memory answers the whole bulk 429: the cluster, not an item, is busy.
    server.failNextRequests(1, 429);
    await expect(sink.write([product('p-1'), product('p-2')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', message: expect.stringContaining('es_rejected_execution_exception') });
    server.failNextRequests(2, 500);
    await expect(sink.write([product('p-1')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
    server.clearFailures();
    server.hangNextRequests(1);
    const hung = await openSink(contextFor(server.url, { timeoutMs: 500 }));
    await expect(hung.write([product('p-1')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', message: expect.stringContaining('timed out') });
    expect(server.count(alias)).toBe(0);
    expect(await sink.write([product('p-1'), product('p-2')])).toEqual([{ status: 'written' }, { status: 'written' }]);
    expect(server.count(alias)).toBe(2);
  });

  it('keeps a delete tombstone for elasticsearch.gcDeletes (7d by default): a stale upsert replayed two days later stays stale', async () => {
    expect(server.settingsOf(`${alias}-v1`)).toMatchObject({ 'index.gc_deletes': '7d' });
    const sink = await openSink();
    await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z' })]);
    await sink.write([product('p-1', { op: 'delete', version: '2026-11-22T13:00:00.000Z' })]);
    server.advanceClock(2 * 86_400_000);
    // The upsert parked in the dlq before the delete, replayed by an operator two days later.
    expect(await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z' })])).toEqual([{ status: 'stale' }]);
    expect(server.count(alias)).toBe(0);
    // Past gc_deletes the engine forgets the delete: that is the bound, documented in docs/elasticsearch-sink.md.
    server.advanceClock(6 * 86_400_000);
    expect(await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z' })])).toEqual([{ status: 'written' }]);
  });

  it('sets index.gc_deletes from elasticsearch.gcDeletes on the index versions it creates', async () => {
    const other = contextFor(server.url, { index: 'catalog', gcDeletes: '30d' });
    await elasticsearchSinkPlugin.setup!(other);
    expect(server.settingsOf('shop1.catalog-v1')).toMatchObject({ 'index.gc_deletes': '30d' });
    await reindexProducts(other.config);
    expect(server.settingsOf('shop1.catalog-v2')).toMatchObject({ 'index.gc_deletes': '30d' });
  });

  it('halves a batch refused as a whole (413) until it goes through', async () => {
    const sink = await openSink();
    server.failNextRequests(1, 413);
    const results = await sink.write([product('p-1'), product('p-2'), product('p-3'), product('p-4')]);
    expect(results.every((r) => r.status === 'written')).toBe(true);
    expect(server.log.filter((request) => request.path.endsWith('/_bulk')).length).toBe(3);
  });

  it('fails a version that does not order, without sending it', async () => {
    const sink = await openSink();
    const [result] = await sink.write([product('p-1', { version: 'AAAAAQ==' })]);
    expect(result).toMatchObject({ status: 'fail', code: 'ES_VERSION_UNORDERED' });
    expect(server.counters.bulkRequests).toBe(0);
  });
});

describe('the run stops (nothing acked) when writing cannot work at all', () => {
  it('throws SINK_UNAVAILABLE (exit 69) for refused credentials, revoked or lacking the write privilege', async () => {
    await server.close();
    server = await ElasticsearchTestServer.start({ apiKey: 'a2V5OnNlY3JldA==' });
    const good = contextFor(server.url, { apiKey: 'a2V5OnNlY3JldA==' });
    await elasticsearchSinkPlugin.setup!(good);
    const sink = await openSink(good);
    expect(await sink.write([product('p-1')])).toEqual([{ status: 'written' }]);

    const wrongKey = await openSink(contextFor(server.url, { apiKey: 'wrong' }));
    const refused = await wrongKey.write([product('p-2')]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ExchangeError);
    expect(refused).toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect((refused as Error).message).toContain('refused the credentials');

    server.forbidWrites();
    await expect(sink.write([product('p-3')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
    server.clearFailures();
    server.revokeCredentials();
    await expect(sink.write([product('p-3')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
    expect(server.count(alias)).toBe(1);
  });

  it('takes basic auth from the node URL', async () => {
    await server.close();
    server = await ElasticsearchTestServer.start({ username: 'exchange', password: 'pa55word' });
    const context = contextFor(server.url.replace('http://', 'http://exchange:pa55word@'));
    await elasticsearchSinkPlugin.setup!(context);
    expect(await (await openSink(context)).write([product('p-1')])).toEqual([{ status: 'written' }]);
    await expect(elasticsearchSinkPlugin.setup!(contextFor(server.url))).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
  });

  it('throws SINK_UNAVAILABLE when nothing answers', async () => {
    const url = server.url;
    await server.close();
    const sink = await openSink(contextFor(url));
    await expect(sink.write([product('p-1')])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE', exitCode: 69 });
    server = await ElasticsearchTestServer.start();
  });

  it('throws TOPOLOGY_MISMATCH before setup, and never lets a write auto-create an index where the alias belongs', async () => {
    const sink = await openSink();
    await expect(sink.write([product('p-1')])).rejects.toMatchObject({ code: 'TOPOLOGY_MISMATCH', exitCode: 78 });
    await expect(sink.write([product('p-1', { op: 'delete' })])).rejects.toMatchObject({ code: 'TOPOLOGY_MISMATCH' });
    expect(server.indices.size).toBe(0);
  });

  it('refuses to open for a route of another type', async () => {
    const config = parseConfig({ routes: { user: ['elasticsearch'] }, elasticsearch: { node: server.url } });
    await expect(elasticsearchSinkPlugin.open({ config, recordStore: undefined as unknown as RecordStore, reporter: silentReporter })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});

describe('setup --reindex', () => {
  it('builds the next version with the current mapping, copies the documents with their versions, swaps the alias atomically, keeps the old index', async () => {
    // An index of an older build: a mapping version this build does not write.
    server.createIndex(`${alias}-v1`, { mappings: { _meta: { mappingVersion: 0 }, dynamic: false, properties: { name: { type: 'text' } } }, aliases: { [alias]: {} } });
    const context = contextFor(server.url);
    const sink = await openSink(context);
    await sink.write([product('p-1', { version: '2026-11-22T12:00:00.000Z' }), product('p-2'), product('p-3', { op: 'delete' })]);
    const aliasUpdatesBefore = server.counters.aliasUpdates;

    const lines = await reindexProducts(context.config);
    expect(lines.join('\n')).toContain(`copied 2 documents from ${alias}-v1 to ${alias}-v2`);
    expect(server.aliasTargets(alias)).toEqual([`${alias}-v2`]);
    expect(server.counters.aliasUpdates - aliasUpdatesBefore).toBe(1);
    expect(server.indices.has(`${alias}-v1`)).toBe(true);
    expect(server.count(`${alias}-v2`)).toBe(2);
    expect(server.document(`${alias}-v2`, 'p-1')!.version).toBe(Date.parse('2026-11-22T12:00:00.000Z'));
    expect(server.mappingOf(`${alias}-v2`)!.properties!.name).toMatchObject({ analyzer: 'russian' });
    expect(await elasticsearchSinkPlugin.check!(context)).toEqual([]);

    // Versions came along: the new index still refuses what is older.
    expect(await sink.write([product('p-1', { version: '2026-11-22T11:00:00.000Z' }), product('p-4')])).toEqual([{ status: 'stale' }, { status: 'written' }]);
    expect(server.document(`${alias}-v2`, 'p-4')).toBeDefined();
    expect(server.document(`${alias}-v1`, 'p-4')).toBeUndefined();

    await reindexProducts(context.config);
    expect(server.aliasTargets(alias)).toEqual([`${alias}-v3`]);
    expect(server.count(alias)).toBe(3);
  });

  async function productStore(): Promise<RecordStore> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-reindex-'));
    const store = await openRecordStore(`sqlite:${path.join(dir, 'store.db')}`);
    await store.migrate();
    stores.push({ store, dir });
    return store;
  }
  const stores: Array<{ store: RecordStore; dir: string }> = [];
  afterEach(async () => {
    for (const { store, dir } of stores.splice(0)) {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  const stored = (envelope: Envelope) => ({ type: 'product' as const, id: envelope.id, version: envelope.version, op: envelope.op, data: envelope.data ?? null });

  it('carries a delete made while it copies into the new index, with its version: the record store knows it', async () => {
    const context = contextFor(server.url);
    await elasticsearchSinkPlugin.setup!(context);
    const store = await productStore();
    const sink = await openSink(context);
    const upserts = [product('p-1'), product('p-2'), product('p-3')];
    await store.writeBatch(upserts.map(stored));
    expect(await sink.write(upserts)).toEqual([{ status: 'written' }, { status: 'written' }, { status: 'written' }]);

    server.holdReindexTasks();
    const reindex = reindexProducts(context.config, store);
    await waitFor('the copy to start', () => server.counters.reindexes === 1, 10_000);
    // While the copy runs from its snapshot, both routes take the delete: the store, and the index through the alias (still v1).
    const removal = product('p-2', { op: 'delete', version: '2026-11-23T00:00:00.000Z' });
    expect(await store.writeBatch([stored(removal)])).toEqual(['written']);
    expect(await sink.write([removal])).toEqual([{ status: 'written' }]);
    expect(server.document(`${alias}-v1`, 'p-2')).toBeUndefined();
    server.releaseReindexTasks();
    const lines = await reindex;

    expect(server.aliasTargets(alias)).toEqual([`${alias}-v2`]);
    expect(server.document(`${alias}-v2`, 'p-2')).toBeUndefined();
    expect(server.count(`${alias}-v2`)).toBe(2);
    expect(lines.join('\n')).toContain(`applied 1 delete known to the record store to ${alias}-v2`);
    // The tombstone came along with its version: the upsert the delete replaced stays refused.
    expect(await sink.write([product('p-2')])).toEqual([{ status: 'stale' }]);
    expect(server.count(alias)).toBe(2);
  });

  it('gives the new index the tombstones of every product the store knows deleted, and never deletes a newer document', async () => {
    const context = contextFor(server.url);
    await elasticsearchSinkPlugin.setup!(context);
    const store = await productStore();
    const sink = await openSink(context);
    // p-old was deleted long ago (its tombstone in v1 is gone); p-back was deleted in the store but re-created later in the index.
    await store.writeBatch([stored(product('p-old', { op: 'delete', version: '2026-11-01T00:00:00.000Z' })), stored(product('p-back', { op: 'delete', version: '2026-11-20T00:00:00.000Z' })), stored(product('p-1'))]);
    expect(await sink.write([product('p-1'), product('p-back', { version: '2026-11-21T00:00:00.000Z' })])).toEqual([{ status: 'written' }, { status: 'written' }]);

    const lines = await reindexProducts(context.config, store);
    expect(lines.join('\n')).toContain(`applied 1 delete known to the record store to ${alias}-v2 (1 left alone: the index holds a newer version)`);
    expect(server.count(`${alias}-v2`)).toBe(2);
    expect(server.document(`${alias}-v2`, 'p-back')!.version).toBe(Date.parse('2026-11-21T00:00:00.000Z'));
    // An upsert of p-old older than its delete, replayed now, stays out of the new index.
    expect(await sink.write([product('p-old', { version: '2026-10-01T00:00:00.000Z' })])).toEqual([{ status: 'stale' }]);
    expect(server.count(alias)).toBe(2);
  });

  it('waits out a copy that takes longer than one wait on the task (a wait that times out answers 429)', async () => {
    const context = contextFor(server.url);
    await elasticsearchSinkPlugin.setup!(context);
    await (await openSink(context)).write([product('p-1')]);
    server.holdReindexTasks();
    const reindex = reindexProducts(context.config);
    const taskPolls = () => server.log.filter((request) => request.path.startsWith('/_tasks/')).length;
    await waitFor('three looks at the running task', () => taskPolls() >= 3, 30_000);
    server.releaseReindexTasks();
    expect((await reindex).join('\n')).toContain(`${alias} → ${alias}-v2 (was ${alias}-v1)`);
    expect(server.count(`${alias}-v2`)).toBe(1);
  }, 60_000);

  it('refuses without an alias to start from', async () => {
    await expect(reindexProducts(contextFor(server.url).config)).rejects.toMatchObject({ code: 'TOPOLOGY_MISMATCH' });
  });
});
