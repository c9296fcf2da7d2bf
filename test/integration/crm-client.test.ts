import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeError } from '../../src/errors.js';
import { Bitrix24Client, ResultRef } from '../../src/sinks/crm/bitrix24-client.js';
import { Bitrix24Server, type Bitrix24ServerOptions } from '../support/bitrix24-server.js';

const servers: Bitrix24Server[] = [];
afterEach(async () => { for (const server of servers.splice(0)) await server.stop(); });

async function portal(options: Bitrix24ServerOptions = { rateLimit: false }) {
  const server = await new Bitrix24Server(options).start();
  servers.push(server);
  return server;
}

function clientFor(webhookUrl: string, options: Partial<ConstructorParameters<typeof Bitrix24Client>[0]> = {}) {
  return new Bitrix24Client({ webhookUrl, requestsPerSecond: 50, burst: 50, timeoutMs: 10_000, ...options });
}

describe('Bitrix24 client against the test portal', () => {
  it('runs a batch with one outcome per command; an error stays with its command; $result links commands', async () => {
    const server = await portal();
    server.failCommand = (method, params) => (method === 'crm.company.add' && (params.fields as Record<string, unknown>).TITLE === 'bad' ? { error: 'ERROR_CORE', error_description: 'refused by the test' } : undefined);
    const client = clientFor(server.webhookUrl);
    const outcomes = await client.batch([
      { key: 'a', method: 'crm.company.add', params: { fields: { TITLE: 'ООО «Ромашка»', ORIGIN_ID: 'x1', PHONE: [{ VALUE: '+7 495 000-00-00', VALUE_TYPE: 'WORK' }] } } },
      { method: 'crm.company.add', params: { fields: { TITLE: 'bad' } } },
      { method: 'crm.requisite.add', params: { fields: { ENTITY_TYPE_ID: 4, ENTITY_ID: new ResultRef('a'), PRESET_ID: 1, NAME: 'Ромашка', RQ_INN: '7707083893' } } },
    ]);
    expect(outcomes[0]).toMatchObject({ ok: true, result: 1 });
    expect(outcomes[1]).toMatchObject({ ok: false, error: 'ERROR_CORE', temporary: false });
    expect(outcomes[2]).toMatchObject({ ok: true });
    expect(server.companies.rows.get(1)).toMatchObject({ TITLE: 'ООО «Ромашка»', ORIGIN_ID: 'x1', PHONE: [{ VALUE: '+7 495 000-00-00', VALUE_TYPE: 'WORK' }] });
    expect(server.requisites.all()[0]).toMatchObject({ ENTITY_ID: 1, RQ_INN: '7707083893' });
    expect(server.counters).toMatchObject({ requests: 1, commands: 3 });
  });

  it('reads a batch whose results all failed: the portal sends [] for the empty maps', async () => {
    const server = await portal();
    const client = clientFor(server.webhookUrl);
    const outcomes = await client.batch([{ method: 'crm.company.update', params: { id: 999, fields: { TITLE: 'x' } } }]);
    // crm.company-update.md: an unknown id is 400 {"error": "", "error_description": "Company is not found"}; the empty code is kept.
    expect(outcomes).toEqual([{ ok: false, error: '', description: 'Company is not found', temporary: false }]);
    const none = await client.batch([{ method: 'crm.company.list', params: { filter: { ORIGIN_ID: ['nobody'] } } }]);
    expect(none[0]).toMatchObject({ ok: true, result: [] });
  });

  it('waits in its own leaky bucket so a portal with the same limits refuses nothing', async () => {
    const server = await portal({ requestsPerSecond: 10, burst: 5 });
    const client = clientFor(server.webhookUrl, { requestsPerSecond: 10, burst: 5 });
    const started = Date.now();
    for (let i = 0; i < 12; i++) await client.call('crm.company.list');
    expect(server.counters.refused).toBe(0);
    expect(server.counters.requests).toBe(12);
    // 4 fit in the burst (one slot kept as headroom), the other 8 drain at 10/s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
  });

  it('backs off and retries after 503 QUERY_LIMIT_EXCEEDED, losing no request', async () => {
    const server = await portal({ requestsPerSecond: 10, burst: 3 });
    // The client believes it has a burst of 50: the portal must teach it otherwise.
    const client = clientFor(server.webhookUrl, { requestsPerSecond: 10, burst: 50 });
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await client.call<number>('crm.company.add', { fields: { TITLE: `c${i}` } }));
    expect(results.map((r) => r.result)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(server.companies.rows.size).toBe(8);
    expect(server.counters.refused).toBeGreaterThan(0);
    expect(client.stats.refused).toBe(server.counters.refused);
    // After the first refusal the client paces itself: a handful, not one per request.
    expect(server.counters.refused).toBeLessThanOrEqual(2);
  });

  it('stops with SINK_UNAVAILABLE when the portal refuses every attempt with QUERY_LIMIT_EXCEEDED (it refuses everything, no item is at fault)', async () => {
    const server = await portal();
    server.refuseNext = 100;
    const client = clientFor(server.webhookUrl, { maxRateLimitAttempts: 3, sleep: async () => undefined });
    await expect(client.batch([{ method: 'crm.company.list' }])).rejects.toMatchObject({ name: 'ExchangeError', code: 'SINK_UNAVAILABLE', exitCode: 69 });
    expect(server.counters.refused).toBe(3);
  });

  it('gives the items back for later (Bitrix24TemporaryError) when a method is blocked longer than it waits', async () => {
    const server = await portal();
    server.operationLimitNext = 1;
    server.operationResetInMs = 60_000;
    const client = clientFor(server.webhookUrl, { maxOperationWaitMs: 5_000 });
    await expect(client.batch([{ method: 'crm.company.list' }])).rejects.toMatchObject({ name: 'Bitrix24TemporaryError', code: 'CRM_OPERATION_TIME_LIMIT' });
    expect(server.counters.operationLimited).toBe(1);
  });

  it('waits for operating_reset_at after 429 OPERATION_TIME_LIMIT, then succeeds', async () => {
    const server = await portal();
    server.operationLimitNext = 1;
    server.operationResetInMs = 1200;
    const client = clientFor(server.webhookUrl);
    const started = Date.now();
    const { result } = await client.call<number>('crm.company.add', { fields: { TITLE: 'после паузы' } });
    expect(result).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(server.counters.operationLimited).toBe(1);
    expect(client.stats.operationLimited).toBe(1);
  });

  it.each(['wrong code', 'NO_AUTH_FOUND', 'expired_token', 'ACCESS_DENIED', 'insufficient_scope', 'OVERLOAD_LIMIT', 'PORTAL_DELETED'] as const)('stops with SINK_UNAVAILABLE (exit 69) on an auth failure: %s; the code is never shown', async (mode) => {
    const server = await portal();
    let webhook = server.webhookUrl;
    if (mode === 'wrong code') webhook = server.webhookWithCode('deadbeef0123456789');
    else server.authFailure = mode;
    const client = clientFor(webhook);
    const error = await client.batch([{ method: 'crm.company.list' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExchangeError);
    expect((error as ExchangeError).exitCode).toBe(69);
    // _includes/system-errors.md: no active webhook with that code is 401 INVALID_CREDENTIALS.
    expect((error as ExchangeError).message).toContain(mode === 'wrong code' ? 'INVALID_CREDENTIALS' : mode);
    expect((error as ExchangeError).message).toContain('/rest/1/***/');
    expect((error as ExchangeError).message + ((error as ExchangeError).hint ?? '')).not.toMatch(/deadbeef|testwebhookcode1/);
  });

  it('a portal that cannot be reached is SINK_UNAVAILABLE (exit 69), never a per-item error: dropped, timed out, 500 for the whole batch, refused, unknown host', async () => {
    const server = await portal();
    server.dropNext = 1;
    const client = clientFor(server.webhookUrl, { timeoutMs: 500 });
    const unavailable = async (what: Promise<unknown>) => {
      const error = await what.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExchangeError);
      expect((error as ExchangeError).code).toBe('SINK_UNAVAILABLE');
      expect((error as ExchangeError).message + ((error as ExchangeError).hint ?? '')).not.toContain(server.code);
      return (error as ExchangeError).message;
    };
    expect(await unavailable(client.batch([{ method: 'crm.company.list' }]))).toMatch(/did not answer batch/);
    server.delayMs = 1500;
    expect(await unavailable(client.batch([{ method: 'crm.company.list' }]))).toContain('no answer in 500 ms');
    server.delayMs = 0;
    server.failNext = 1;
    expect(await unavailable(client.batch([{ method: 'crm.company.list' }]))).toContain('HTTP 500 INTERNAL_SERVER_ERROR');
    await server.stop();
    // The first request may still find its kept-alive socket (closed by the other side); the next one is refused.
    await unavailable(client.batch([{ method: 'crm.company.list' }]));
    expect(await unavailable(client.batch([{ method: 'crm.company.list' }]))).toContain('ECONNREFUSED');
    const nowhere = clientFor('http://crm.invalid/rest/1/secretcode42/', { timeoutMs: 5_000 });
    const dns = await nowhere.call('crm.company.list').catch((e: unknown) => e);
    expect(dns).toMatchObject({ code: 'SINK_UNAVAILABLE' });
    expect((dns as Error).message).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect((dns as Error).message).not.toContain('secretcode42');
  });

  it('reads catalog.* error codes as numbers, 0 included (falsy in JS): permission codes stop the run, the rest fail the item', async () => {
    const server = await portal();
    const client = clientFor(server.webhookUrl);
    // catalog-product-update.md: an unknown id is 400 {"error": 0, ...}; catalog-product-add.md: no iblockId is {"error": 0, ...}.
    const outcomes = await client.batch([
      { method: 'catalog.product.update', params: { id: 77, fields: { name: 'x' } } },
      { method: 'catalog.product.add', params: { fields: { name: 'без инфоблока' } } },
      { method: 'catalog.product.add', params: { fields: { iblockId: 14, name: 'Товар', xmlId: 'p-1' } } },
    ]);
    expect(outcomes[0]).toEqual({ ok: false, error: '0', description: 'Product with the specified identifier does not exist', temporary: false });
    expect(outcomes[1]).toEqual({ ok: false, error: '0', description: 'Required fields: iblockId', temporary: false });
    expect(outcomes[2]).toMatchObject({ ok: true, result: { element: { id: 1, iblockId: 14, name: 'Товар', xmlId: 'p-1' } } });
    // A single call answered {"error": 0} is an error too, not a result.
    await expect(client.call('catalog.product.update', { id: 78, fields: { name: 'x' } })).rejects.toMatchObject({ name: 'Bitrix24CallError', code: '0' });
    server.failCommand = (method) => (method === 'catalog.product.list' ? { error: 200040300010, error_description: 'Access Denied' } : undefined);
    await expect(client.batch([{ method: 'catalog.product.list', params: { select: ['id', 'iblockId'], filter: { iblockId: 14 } } }])).rejects.toMatchObject({ code: 'SINK_UNAVAILABLE' });
  });

  it('pages with next/total by 50, and scans with >ID and start=-1', async () => {
    const server = await portal();
    for (let i = 1; i <= 120; i++) server.companies.insert({ TITLE: `c${i}`, ORIGIN_ID: `o${i}` });
    const client = clientFor(server.webhookUrl);
    const first = await client.call<unknown[]>('crm.company.list', { select: ['ID'] });
    expect(first).toMatchObject({ total: 120, next: 50 });
    const paged: number[] = [];
    for await (const rows of client.pages<{ ID: string }>('crm.company.list', { select: ['ID'] })) paged.push(rows.length);
    expect(paged).toEqual([50, 50, 20]);
    const scanned: string[] = [];
    for await (const rows of client.scan<{ ID: string }>('crm.company.list', { select: ['ID', 'ORIGIN_ID'] })) scanned.push(...rows.map((r) => r.ID));
    expect(scanned).toHaveLength(120);
    expect(new Set(scanned).size).toBe(120);
    const scanPage = await client.call('crm.company.list', { filter: { '>ID': 100 }, order: { ID: 'ASC' }, start: -1 });
    expect(scanPage.total).toBeUndefined();
    expect((scanPage.result as unknown[]).length).toBe(20);
  });
});
