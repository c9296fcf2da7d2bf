import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bitrix24Client } from '../../src/sinks/crm/bitrix24-client.js';
import { Bitrix24Server } from '../support/bitrix24-server.js';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const users = [
  { type: 'user', op: 'upsert', id: 'a6f1c9d0-1c11-11e7-80c4-00155d0a1f01', version: '2026-11-01T09:00:00.000Z', source: '1c', data: { name: 'ООО «Ромашка»', inn: '7707083893', kpp: '770701001', phone: '+7 495 111-11-11' } },
  { type: 'user', op: 'upsert', id: 'a6f1c9d0-1c11-11e7-80c4-00155d0a1f02', version: '2026-11-01T09:00:00.000Z', source: '1c', data: { name: 'ООО «Лютик»', inn: '7728168971', kpp: '772801001', phone: '+7 495 222-22-22' } },
];

describe('exchange sync with bitrix24-companies: the way back of the two-way exchange, without echo', () => {
  it('a person\'s change in the CRM comes back once and reaches the queues; the sink writing it to the CRM again is not sent back', async () => {
    const server = await new Bitrix24Server({ rateLimit: false }).start();
    const tenant = uniqueName('t');
    const work = tempWorkdir({
      crm: { webhookUrl: server.webhookUrl, requestsPerSecond: 50, burst: 50 },
      routes: { user: ['records', 'crm'] },
      syncs: { crmback: { provider: 'bitrix24-companies', schedule: '5m', settings: {} } },
    });
    cleanups.push(() => server.stop(), async () => { await broker.deleteTenant(tenant, ['records', 'crm']); work.remove(); });
    const cli = (...args: string[]) => runCli(args, { env: { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: `sqlite:${path.join(work.dir, 'store.db')}` }, cwd: work.dir });
    expect((await cli('setup')).code).toBe(0);

    // 1C → store and CRM, as the exchange runs every day.
    const file = path.join(work.dir, 'users.jsonl');
    fs.writeFileSync(file, users.map((user) => JSON.stringify(user)).join('\n'));
    expect((await cli('publish', 'user', file)).code).toBe(0);
    const drained = await cli('user', '--json');
    expect(drained.code, drained.stderr).toBe(0);
    expect(server.companies.rows.size).toBe(2);

    const first = await cli('sync', 'crmback', '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ command: 'sync:crmback', read: 0, written: 0, published: 0, exitCode: 0 });

    const person = new Bitrix24Client({ webhookUrl: server.webhookUrl, requestsPerSecond: 50, burst: 50, timeoutMs: 5000 });
    await person.call('crm.company.update', { id: 2, fields: { TITLE: 'ООО «Лютик и партнёры»' } });
    const second = await cli('sync', 'crmback', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary).toMatchObject({ read: 1, written: 1, published: 1, exitCode: 0 });
    const record = (await cli('records', 'get', 'user', users[1].id, '--json')).json[0] as { data: Record<string, unknown>; version: string };
    expect(record.data).toEqual({ ...users[1].data, name: 'ООО «Лютик и партнёры»' });
    await broker.waitForDepth(`${tenant}.user.crm`, 1);
    await broker.waitForDepth(`${tenant}.user.records`, 1);

    // Its event goes to the CRM sink (and the records sink, which already holds it): the CRM gets the store's version.
    const back = await cli('user', '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(server.companies.rows.get(2)).toMatchObject({ TITLE: 'ООО «Лютик и партнёры»', ORIGIN_VERSION: record.version });

    // That write moved DATE_MODIFY: the company is listed again, and it is our own write: nothing comes back.
    const third = await cli('sync', 'crmback', '--json');
    expect(third.code, third.stderr).toBe(0);
    expect(third.summary).toMatchObject({ read: 0, written: 0, published: 0, exitCode: 0 });
    expect(await broker.depth(`${tenant}.user.crm`)).toBe(0);
    expect(await broker.depth(`${tenant}.user.records`)).toBe(0);
  });

  it('a refused webhook is exit 69 with the sync in error and the webhook code masked', async () => {
    const server = await new Bitrix24Server({ rateLimit: false }).start();
    server.authFailure = 'NO_AUTH_FOUND';
    const work = tempWorkdir({ crm: { webhookUrl: server.webhookUrl }, syncs: { crmback: { provider: 'bitrix24-companies', schedule: '5m' } } });
    cleanups.push(() => server.stop(), () => work.remove());
    const cli = (...args: string[]) => runCli(args, { env: { EXCHANGE_RECORD_STORE: `sqlite:${path.join(work.dir, 'store.db')}` }, cwd: work.dir });
    const refused = await cli('sync', 'crmback');
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain('NO_AUTH_FOUND');
    expect(refused.stdout + refused.stderr).not.toContain(server.code);
    const state = (await cli('sync', 'status', 'crmback', '--json')).json[0] as Record<string, unknown>;
    expect(state).toMatchObject({ status: 'error', cursor: null, error: expect.stringContaining('NO_AUTH_FOUND') });
  });
});
