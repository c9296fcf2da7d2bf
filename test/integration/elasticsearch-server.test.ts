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
