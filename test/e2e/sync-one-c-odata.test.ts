import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { OneCODataServer, type OneCEntity } from '../support/one-c-odata-server.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

/** The real Catalog_Номенклатура response (fixtures/1c-odata/SOURCES.tsv): 5 entities. */
const catalog = JSON.parse(readFileSync(path.resolve(__dirname, '../../fixtures/1c-odata/Catalog_Nomenklatura_collection.json'), 'utf8')).value as OneCEntity[];
const item = '68c21ae9-cd73-11e6-aede-5404a6b4b8ed';
const other = 'f8c956ea-cdad-11e6-aede-5404a6b4b8ed';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

async function setup(engine: 'sqlite' | 'postgres', settings: Record<string, unknown> = {}) {
  const server = await new OneCODataServer().start();
  server.publish('Catalog_Номенклатура', catalog);
  const tenant = uniqueName('t');
  const work = tempWorkdir({
    syncs: {
      goods: {
        provider: '1c-odata', schedule: '15m',
        settings: { url: server.url, user: server.user, password: server.password, entity: 'Catalog_Номенклатура', type: 'product', mapping: { name: 'Description', sku: 'Артикул' }, pageSize: 2, ...settings },
      },
    },
  });
  let storeUrl = `sqlite:${path.join(work.dir, 'store.db')}`;
  if (engine === 'postgres') {
    const pg = await createPgSchema();
    storeUrl = pg.url;
    cleanups.push(() => pg.drop());
  }
  cleanups.push(() => server.stop(), async () => { await broker.deleteTenant(tenant); work.remove(); });
  const cli = (...args: string[]) => runCli(args, { env: { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl }, cwd: work.dir });
  expect((await cli('setup')).code).toBe(0);
  return { server, cli, queue: `${tenant}.product.records` };
}

const status = async (cli: (...args: string[]) => ReturnType<typeof runCli>) => (await cli('sync', 'status', 'goods', '--json')).json[0] as Record<string, unknown>;

describe.each(['sqlite', 'postgres'] as const)('exchange sync with 1c-odata (%s record store)', (engine) => {
  it('a first run loads the catalog, a second sends only what changed in 1C (a new value, a deletion mark)', async () => {
    const { server, cli, queue } = await setup(engine);
    const first = await cli('sync', 'goods', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ command: 'sync:goods', read: 5, written: 5, unchanged: 0, published: 5, exitCode: 0 });
    await broker.waitForDepth(queue, 5);
    expect((await cli('records', 'count', 'product')).stdout.trim()).toBe('5');
    expect(await status(cli)).toMatchObject({ name: 'goods', provider: '1c-odata', status: 'idle', cursor: '{"skip":0}', error: null, processed: 5 });
    expect(server.requests.map((request) => request.options.$skip ?? '0')).toEqual(['0', '2', '4']);

    server.change('Catalog_Номенклатура', item, { Артикул: '12233325' });
    server.change('Catalog_Номенклатура', other, { DeletionMark: true });
    const second = await cli('sync', 'goods', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary).toMatchObject({ read: 5, written: 2, unchanged: 3, published: 2, exitCode: 0 });
    await broker.waitForDepth(queue, 7);
    const messages = (await broker.takeAll(queue)).slice(5).map((message) => ({ key: message.fields.routingKey, body: JSON.parse(message.content.toString()) as Record<string, unknown> }));
    expect(messages.map((m) => [m.key, m.body.id, m.body.op, m.body.source, (m.body.data as Record<string, unknown> | null)?.sku ?? null]).sort()).toEqual([
      ['product.delete', other, 'delete', '1c-odata', null],
      ['product.upsert', item, 'upsert', '1c-odata', '12233325'],
    ].sort());
    expect((await cli('records', 'count', 'product')).stdout.trim()).toBe('4');
    const third = await cli('sync', 'goods', '--json');
    expect(third.summary).toMatchObject({ read: 5, written: 0, unchanged: 5, published: 0, exitCode: 0 });
  });

  it('1C failing mid-run (HTTP 500, odata.error) is exit 69 with 1C\'s words kept; the next run resumes at the saved page, nothing lost or doubled', async () => {
    const { server, cli, queue } = await setup(engine);
    server.failNext = [null, 'odata-500'];
    const failed = await cli('sync', 'goods', '--json');
    expect(failed.code).toBe(69);
    expect(failed.stderr).toContain('[-1] Ошибка при выполнении запроса: Недостаточно памяти для получения результата запроса');
    expect(await status(cli)).toMatchObject({ status: 'error', cursor: '{"skip":2}', processed: 2, error: expect.stringContaining('failed reading Catalog_Номенклатура (HTTP 500: [-1]') });
    expect((await cli('records', 'count', 'product')).stdout.trim()).toBe('2');

    server.requests.length = 0;
    const resumed = await cli('sync', 'goods', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.summary).toMatchObject({ read: 3, written: 3 });
    expect(server.requests.map((request) => request.options.$skip)).toEqual(['2', '4']);
    expect((await cli('records', 'count', 'product')).stdout.trim()).toBe('5');
    await broker.waitForDepth(queue, 5);
    expect(new Set((await broker.takeAll(queue)).map((message) => (JSON.parse(message.content.toString()) as { id: string }).id)).size).toBe(5);
    expect(await status(cli)).toMatchObject({ status: 'idle', error: null, cursor: '{"skip":0}' });
  });

  it('a wrong password is exit 69 naming the 401 and never printing the password; an unpublished entity is exit 78 saying how to publish it', async () => {
    const { cli: wrong } = await setup(engine, { password: 'Неверный-Пароль-77' });
    const refused = await wrong('sync', 'goods');
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain('refused the credentials for Catalog_Номенклатура (HTTP 401)');
    expect(refused.stdout + refused.stderr).not.toContain('Неверный-Пароль-77');
    expect(JSON.stringify(await status(wrong))).not.toContain('Неверный-Пароль-77');

    const { cli: unpublished } = await setup(engine, { entity: 'Catalog_Склады' });
    const missing = await unpublished('sync', 'goods');
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('does not publish Catalog_Склады (HTTP 404');
    expect(missing.stderr).toContain('Настройка стандартного интерфейса OData');
    expect(await status(unpublished)).toMatchObject({ status: 'error', error: expect.stringContaining('Catalog_Склады') });
  });
});
