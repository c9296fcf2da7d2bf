import { Client, errors } from '@elastic/elasticsearch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElasticsearchTestServer } from '../support/elasticsearch-server.js';

/** The test server must answer like a real cluster where the sink depends on it; the real client is the judge. */
let server: ElasticsearchTestServer;
let client: Client;
beforeEach(async () => {
  server = await ElasticsearchTestServer.start();
  client = new Client({ node: server.url, maxRetries: 0 });
});
afterEach(async () => {
  await client.close();
  await server.close();
});

describe('the Elasticsearch test server', () => {
  it('passes the client product check and reports a version', async () => {
    const info = await client.info();
    expect(info.version.number).toMatch(/^9\./);
    const raw = await fetch(server.url);
    expect(raw.headers.get('x-elastic-product')).toBe('Elasticsearch');
  });

  it('answers _bulk with per-item results in order and errors: true when one failed', async () => {
    await client.indices.create({ index: 'p-v1', mappings: { dynamic: 'strict', properties: { n: { type: 'long' } } }, aliases: { p: {} } });
    const response = await client.bulk({
      index: 'p',
      operations: [
        { index: { _id: '1', version: 5, version_type: 'external' } }, { n: 1 },
        { index: { _id: '1', version: 5, version_type: 'external' } }, { n: 2 },
        { index: { _id: '2' } }, { n: 'x' },
        { index: { _id: '3' } }, { other: 1 },
        { delete: { _id: '9' } },
      ],
    });
    expect(response.errors).toBe(true);
    const items = response.items.map((item) => Object.values(item)[0]!);
    expect(items.map((item) => item.status)).toEqual([201, 409, 400, 400, 404]);
    expect(items[0]).toMatchObject({ _index: 'p-v1', _id: '1', _version: 5, result: 'created' });
    expect(items[1].error).toMatchObject({ type: 'version_conflict_engine_exception', reason: '[1]: version conflict, current version [5] is higher or equal to the one provided [5]' });
    expect(items[2].error?.type).toBe('document_parsing_exception');
    expect(items[3].error?.type).toBe('strict_dynamic_mapping_exception');
    expect(items[4]).toMatchObject({ result: 'not_found' });
    expect((await client.count({ index: 'p' })).count).toBe(1);
    expect(await client.get({ index: 'p', id: '1' })).toMatchObject({ found: true, _version: 5, _source: { n: 1 } });
  });

  it('applies _aliases actions all together or not at all', async () => {
    await client.indices.create({ index: 'a-v1', aliases: { a: {} } });
    await client.indices.create({ index: 'a-v2' });
    const refused = await client.indices.updateAliases({ actions: [{ remove: { index: 'a-v1', alias: 'a' } }, { add: { index: 'no-such', alias: 'a' } }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(errors.ResponseError);
    expect((refused as errors.ResponseError).statusCode).toBe(404);
    expect(server.aliasTargets('a')).toEqual(['a-v1']);
    await client.indices.updateAliases({ actions: [{ remove: { index: 'a-v1', alias: 'a' } }, { add: { index: 'a-v2', alias: 'a' } }] });
    expect(await client.indices.getAlias({ name: 'a' })).toEqual({ 'a-v2': { aliases: { a: {} } } });
    expect(await client.indices.exists({ index: 'a-v9' })).toBe(false);
    await expect(client.indices.create({ index: 'a-v2' })).rejects.toMatchObject({ body: { error: { type: 'resource_already_exists_exception' } } });
    await expect(client.indices.create({ index: 'x', mappings: { properties: { n: { type: 'text', analyzer: 'klingon' } } } })).rejects.toMatchObject({ statusCode: 400 });
  });

  it('keeps a delete tombstone for index.gc_deletes only (60 s unless the index or the stand-in says otherwise)', async () => {
    await client.indices.create({ index: 'd' });
    await client.indices.create({ index: 'w', settings: { index: { gc_deletes: '7d' } } });
    for (const index of ['d', 'w']) {
      await client.index({ index, id: '1', version: 10, version_type: 'external', document: { n: 1 } });
      await client.delete({ index, id: '1', version: 20, version_type: 'external' });
    }
    server.advanceClock(59_000);
    await expect(client.index({ index: 'd', id: '1', version: 15, version_type: 'external_gte', document: { n: 2 } })).rejects.toMatchObject({ statusCode: 409, body: { error: { type: 'version_conflict_engine_exception' } } });
    server.advanceClock(2_000);
    // 61 s after the delete the default index has forgotten it: the older version comes back.
    expect(await client.index({ index: 'd', id: '1', version: 15, version_type: 'external_gte', document: { n: 2 } })).toMatchObject({ result: 'created', _version: 15 });
    await expect(client.index({ index: 'w', id: '1', version: 15, version_type: 'external_gte', document: { n: 2 } })).rejects.toMatchObject({ statusCode: 409 });
    await expect(client.indices.create({ index: 'bad', settings: { index: { gc_deletes: 'soon' } } })).rejects.toMatchObject({ statusCode: 400, body: { error: { type: 'illegal_argument_exception' } } });

    const patient = await ElasticsearchTestServer.start({ gcDeletes: '1h' });
    const other = new Client({ node: patient.url, maxRetries: 0 });
    await other.indices.create({ index: 'd' });
    await other.delete({ index: 'd', id: '1', version: 20, version_type: 'external' }).catch((error: unknown) => expect(error).toMatchObject({ statusCode: 404 }));
    patient.advanceClock(30 * 60_000);
    await expect(other.index({ index: 'd', id: '1', version: 15, version_type: 'external_gte', document: { n: 2 } })).rejects.toMatchObject({ statusCode: 409 });
    await other.close();
    await patient.close();
  });

  it('answers a delete of a missing document 404 not_found and keeps its tombstone', async () => {
    await client.indices.create({ index: 'd' });
    const gone = await client.delete({ index: 'd', id: 'x', version: 5, version_type: 'external_gte' }).catch((error: errors.ResponseError) => error);
    expect(gone).toBeInstanceOf(errors.ResponseError);
    expect((gone as errors.ResponseError).statusCode).toBe(404);
    expect((gone as errors.ResponseError).body).toMatchObject({ _index: 'd', _id: 'x', _version: 5, result: 'not_found', _shards: { failed: 0 } });
    await expect(client.index({ index: 'd', id: 'x', version: 4, version_type: 'external_gte', document: {} })).rejects.toMatchObject({ statusCode: 409 });
  });

  it('runs _reindex as a task over a snapshot: a delete in the source during the copy is still copied; a timed-out wait answers 429', async () => {
    await client.indices.create({ index: 's' });
    await client.indices.create({ index: 't' });
    await client.index({ index: 's', id: '1', version: 3, version_type: 'external', document: { n: 1 } });
    await client.index({ index: 's', id: '2', version: 3, version_type: 'external', document: { n: 2 } });
    server.holdReindexTasks();
    const { task } = await client.reindex({ source: { index: 's' }, dest: { index: 't', version_type: 'external' }, conflicts: 'proceed', wait_for_completion: false });
    expect(String(task)).toMatch(/^[\w-]+:\d+$/);
    expect(await client.tasks.get({ task_id: String(task) })).toMatchObject({ completed: false, task: { action: 'indices:data/write/reindex', status: { total: 2, created: 0 } } });
    const waited = await client.tasks.get({ task_id: String(task), wait_for_completion: true, timeout: '200ms' }).catch((error: unknown) => error);
    expect(waited).toMatchObject({ statusCode: 429, body: { error: { type: 'elasticsearch_timeout_exception' }, status: 429 } });
    await client.delete({ index: 's', id: '2' });
    server.releaseReindexTasks();
    const done = await client.tasks.get({ task_id: String(task) });
    expect(done).toMatchObject({ completed: true, response: { total: 2, created: 2, version_conflicts: 0, failures: [] } });
    expect(server.count('t')).toBe(2);
  });

  it('answers 413 from the HTTP layer (no body, no product header); a stopped cluster refuses connections and comes back with its data; a hung request times out', async () => {
    await client.indices.create({ index: 'p' });
    server.failNextRequests(1, 413);
    const tooLarge = await client.bulk({ index: 'p', operations: [{ index: { _id: '1' } }, { n: 1 }] }).catch((error: unknown) => error);
    expect(tooLarge).toBeInstanceOf(errors.ResponseError);
    expect((tooLarge as errors.ResponseError).statusCode).toBe(413);
    await client.index({ index: 'p', id: '1', document: { n: 1 } });
    await server.stop();
    await expect(client.count({ index: 'p' })).rejects.toBeInstanceOf(errors.ConnectionError);
    await server.resume();
    expect((await client.count({ index: 'p' })).count).toBe(1);
    server.hangNextRequests(1, /_count$/);
    await expect(client.count({ index: 'p' }, { requestTimeout: 300 })).rejects.toBeInstanceOf(errors.TimeoutError);
  });

  it('refuses bad credentials with 401 and a challenge, without the product header', async () => {
    await server.close();
    server = await ElasticsearchTestServer.start({ apiKey: 'k3y' });
    const raw = await fetch(`${server.url}/_count`);
    expect(raw.status).toBe(401);
    expect(raw.headers.get('x-elastic-product')).toBeNull();
    expect(raw.headers.get('www-authenticate')).toContain('Basic realm="security"');
    const authorized = new Client({ node: server.url, auth: { apiKey: 'k3y' } });
    expect((await authorized.info()).tagline).toBe('You Know, for Search');
    await authorized.close();
    expect(server.counters.unauthorized).toBe(1);
  });
});
