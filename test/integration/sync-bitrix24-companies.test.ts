import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { ExchangeError } from '../../src/errors.js';
import { silentReporter } from '../../src/jobs/reporter.js';
import type { Envelope } from '../../src/messages/envelope.js';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import type { RecordStore } from '../../src/recordstore/record-store.js';
import { Bitrix24Client } from '../../src/sinks/crm/bitrix24-client.js';
import { crmSinkPlugin, type CrmSink } from '../../src/sinks/crm/crm-sink.js';
import { bitrix24CompaniesProvider, type Bitrix24CompaniesSettings } from '../../src/sync/providers/bitrix24-companies.js';
import type { ProviderContext, SyncPage, SyncRecord } from '../../src/sync/sync-provider.js';
import { Bitrix24Server, portalClock } from '../support/bitrix24-server.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

/** Our clock and the portal's, moved together by the test (the portal writes Moscow time, +03:00). */
const clock = { now: Date.UTC(2026, 10, 22, 10, 0, 0) };
portalClock.now = () => clock.now;
const later = (seconds: number) => { clock.now += seconds * 1000; };

async function setup(crm: Record<string, unknown> = {}) {
  clock.now = Date.UTC(2026, 10, 22, 10, 0, 0);
  const server = await new Bitrix24Server({ rateLimit: false }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-b24-sync-'));
  const store: RecordStore = await openRecordStore(`sqlite:${path.join(dir, 'store.db')}`);
  cleanups.push(() => server.stop(), () => fs.rmSync(dir, { recursive: true, force: true }), () => store.close());
  const config = parseConfig({ crm: { webhookUrl: server.webhookUrl, requestsPerSecond: 100, burst: 100, ...crm } });
  const sink = (await crmSinkPlugin.open({ config, recordStore: store, reporter: silentReporter })) as CrmSink;
  const context: ProviderContext = { config, reporter: silentReporter, recordStore: store, now: () => new Date(clock.now) };
  /** A person working in the CRM, through the portal's own API. */
  const person = new Bitrix24Client({ webhookUrl: server.webhookUrl, requestsPerSecond: 100, burst: 100, timeoutMs: 5000 });
  const calls: Array<Record<string, unknown>> = [];
  server.failCommand = (method, params) => {
    if (method === 'crm.company.list' && (params.filter as Record<string, unknown> | undefined)?.['>ID'] !== undefined && !('ORIGIN_ID' in ((params.filter ?? {}) as object))) calls.push(params);
    return undefined;
  };
  return { server, store, sink, context, person, calls };
}

async function pull(context: ProviderContext, cursor: string | null, settings: Partial<Bitrix24CompaniesSettings> = {}): Promise<SyncPage[]> {
  const pages: SyncPage[] = [];
  for await (const page of bitrix24CompaniesProvider.pull(cursor, bitrix24CompaniesProvider.settings.parse(settings), context)) pages.push(page);
  return pages;
}

const data = (name: string, extra: Record<string, unknown> = {}) => ({ name, inn: '7707083893', kpp: '770701001', phone: '+7 495 111-11-11', email: 'office@example.ru', ...extra });

/** What import + drain do: the record in the store, and the CRM sink writing its event. */
async function fromOneC(store: RecordStore, sink: CrmSink, id: string, version: string, values: Record<string, unknown>): Promise<void> {
  await store.writeBatch([{ type: 'user', id, version, op: 'upsert', data: values }]);
  const envelope: Envelope = { type: 'user', op: 'upsert', id, version, source: '1c', data: values };
  expect(await sink.write([envelope])).toEqual([{ status: 'written' }]);
}

/** What the runner does with a page: the store writes it. */
async function writePage(store: RecordStore, records: SyncRecord[]) {
  return store.writeBatch(records.map((record) => ({ ...record })));
}

describe('bitrix24-companies: companies changed in the CRM come back as users, without echo', () => {
  it('our own writes are not sent back; a person\'s change is, once; while the change travels back to the CRM nothing is re-sent', async () => {
    const { server, store, sink, context, person, calls } = await setup();
    await fromOneC(store, sink, 'u1', '2026-11-01T00:00:00.000Z', data('ООО «Ромашка»'));
    await fromOneC(store, sink, 'u2', '2026-11-01T00:00:00.000Z', data('ООО «Лютик»'));
    // A company made in the CRM by hand: no ORIGIN_ID, not the exchange's.
    await person.call('crm.company.add', { fields: { TITLE: 'ИП Сидоров' } });

    later(60);
    const first = await pull(context, null);
    // Every company was just written by our sink: echoes, nothing comes back.
    expect(first).toEqual([{ records: [], cursor: '{"since":"2026-11-22T09:56:00+00:00","afterId":0}' }]);
    expect(calls[0]).toEqual({ order: { ID: 'ASC' }, filter: { '>ID': 0 }, select: ['ID', 'DATE_MODIFY', 'ORIGIN_ID', 'ORIGIN_VERSION', 'TITLE', 'PHONE', 'EMAIL', 'ADDRESS'], start: -1 });

    later(600);
    await person.call('crm.company.update', { id: 2, fields: { TITLE: 'ООО «Лютик и партнёры»', PHONE: [{ ID: '3', VALUE: '+7 495 222-22-22' }] } });
    later(60);
    const second = await pull(context, first[0].cursor);
    expect(calls[1].filter).toEqual({ '>ID': 0, '>DATE_MODIFY': '2026-11-22T09:56:00+00:00' });
    expect(second).toEqual([{
      records: [{
        type: 'user', id: 'u2', op: 'upsert', version: '2026-11-22T10:11:00.000Z',
        data: { name: 'ООО «Лютик и партнёры»', inn: '7707083893', kpp: '770701001', phone: '+7 495 222-22-22', email: 'office@example.ru' },
      }],
      cursor: '{"since":"2026-11-22T10:07:00+00:00","afterId":0}',
    }]);
    expect(await writePage(store, second[0].records)).toEqual(['written']);

    // The change is in the store and its event is on its way to the CRM sink: the same company is listed again
    // (inside the overlap), but the CRM does not hold the store's version yet: nothing is sent back.
    later(1);
    const third = await pull(context, second[0].cursor);
    expect(third.map((page) => page.records)).toEqual([[]]);

    // The sink writes the record (its own event): DATE_MODIFY moves, the company equals what it wrote: an echo.
    later(1);
    const stored = (await store.get('user', 'u2'))!;
    expect(await sink.write([{ type: 'user', op: 'upsert', id: 'u2', version: stored.version, source: 'bitrix24-companies', data: stored.data }])).toEqual([{ status: 'written' }]);
    expect(server.companies.rows.get(2)).toMatchObject({ TITLE: 'ООО «Лютик и партнёры»', ORIGIN_VERSION: '2026-11-22T10:11:00.000Z', DATE_MODIFY: '2026-11-22T13:12:02+03:00' });
    later(60);
    const fourth = await pull(context, third[0].cursor);
    expect(fourth.map((page) => page.records)).toEqual([[]]);
  });

  it('a change made while a run walks the IDs, behind the ones already read, is listed by the next run', async () => {
    const { store, sink, context, person } = await setup();
    for (let n = 1; n <= 60; n++) await fromOneC(store, sink, `u${n}`, '2026-11-01T00:00:00.000Z', data(`ООО «Фирма ${n}»`));
    later(600);
    const pages: SyncPage[] = [];
    for await (const page of bitrix24CompaniesProvider.pull(null, bitrix24CompaniesProvider.settings.parse({ overlapSeconds: 0 }), context)) {
      pages.push(page);
      if (pages.length === 1) {
        // Company 10 was read on page 1; a person changes it now; company 55 then changes too (read on page 2).
        later(5);
        await person.call('crm.company.update', { id: 10, fields: { TITLE: 'ООО «Фирма 10» (новое)' } });
        later(5);
        await person.call('crm.company.update', { id: 55, fields: { TITLE: 'ООО «Фирма 55» (новое)' } });
      }
    }
    expect(pages.map((page) => [page.records.map((record) => record.id), page.cursor])).toEqual([
      [[], '{"since":null,"afterId":50,"startedAt":"2026-11-22T10:10:00+00:00","maxSeen":"2026-11-22T13:00:00+03:00"}'],
      // The run began at 10:10:00; company 55 changed at 10:10:10: the next scan starts at the run's start, not at 55's change.
      [['u55'], '{"since":"2026-11-22T10:10:00+00:00","afterId":0}'],
    ]);
    later(60);
    const next = await pull(context, pages[1].cursor, { overlapSeconds: 0 });
    expect(next.flatMap((page) => page.records.map((record) => [record.id, record.data?.name]))).toEqual([['u10', 'ООО «Фирма 10» (новое)'], ['u55', 'ООО «Фирма 55» (новое)']]);
  });

  it('pages by >ID with start=-1, 50 a call, resumable after any page; pageSize groups calls', async () => {
    const { server, store, context, calls } = await setup();
    // 120 companies of the exchange whose CRM title differs from the store (changed by people), not linked by our sink.
    for (let n = 1; n <= 120; n++) {
      server.companies.insert({ TITLE: `Фирма ${n} (CRM)`, ORIGINATOR_ID: '1c', ORIGIN_ID: `u${n}`, DATE_MODIFY: '2026-11-22T12:00:00+03:00' });
      await store.writeBatch([{ type: 'user', id: `u${n}`, version: '2026-11-01T00:00:00.000Z', op: 'upsert', data: { name: `Фирма ${n}` } }]);
    }
    const pages = await pull(context, null);
    expect(pages.map((page) => [page.records.length, page.records[0]?.id, page.cursor])).toEqual([
      [50, 'u1', '{"since":null,"afterId":50,"startedAt":"2026-11-22T09:55:00+00:00","maxSeen":"2026-11-22T12:00:00+03:00"}'],
      [50, 'u51', '{"since":null,"afterId":100,"startedAt":"2026-11-22T09:55:00+00:00","maxSeen":"2026-11-22T12:00:00+03:00"}'],
      [20, 'u101', '{"since":"2026-11-22T12:00:00+03:00","afterId":0}'],
    ]);
    expect(pages[0].records[0]).toEqual({ type: 'user', id: 'u1', op: 'upsert', version: '2026-11-22T09:00:00.000Z', data: { name: 'Фирма 1 (CRM)' } });
    expect(calls.map((call) => [(call.filter as Record<string, unknown>)['>ID'], call.start, call.order])).toEqual([
      [0, -1, { ID: 'ASC' }], [50, -1, { ID: 'ASC' }], [100, -1, { ID: 'ASC' }],
    ]);

    const resumed = await pull(context, pages[0].cursor);
    expect(resumed.map((page) => [page.records.length, page.records[0]?.id])).toEqual([[50, 'u51'], [20, 'u101']]);
    expect(resumed[1].cursor).toBe('{"since":"2026-11-22T12:00:00+03:00","afterId":0}');

    const grouped = await pull(context, null, { pageSize: 100 });
    expect(grouped.map((page) => page.records.length)).toEqual([100, 20]);
  });

  it('companies not of the exchange stay out: no ORIGIN_ID, an ORIGIN_ID the store does not know, a copy of a linked company', async () => {
    const { server, store, sink, context } = await setup();
    await fromOneC(store, sink, 'u1', '2026-11-01T00:00:00.000Z', data('ООО «Ромашка»'));
    server.companies.insert({ TITLE: 'Без ORIGIN_ID', DATE_MODIFY: '2026-11-22T12:00:00+03:00' });
    server.companies.insert({ TITLE: 'Чужая', ORIGINATOR_ID: 'other', ORIGIN_ID: 'x-42', DATE_MODIFY: '2026-11-22T12:00:00+03:00' });
    server.companies.insert({ TITLE: 'Копия Ромашки', ORIGINATOR_ID: '1c', ORIGIN_ID: 'u1', DATE_MODIFY: '2026-11-22T12:00:00+03:00' });
    expect((await pull(context, null)).flatMap((page) => page.records)).toEqual([]);
  });

  it('a deleted or a refusing portal is SOURCE_UNAVAILABLE (69) with the webhook code masked; no webhook is a config error', async () => {
    const { server, context } = await setup();
    server.authFailure = 'NO_AUTH_FOUND';
    const refused = await pull(context, null).catch((error: unknown) => error as ExchangeError);
    expect(refused).toBeInstanceOf(ExchangeError);
    expect((refused as ExchangeError).code).toBe('SOURCE_UNAVAILABLE');
    expect((refused as ExchangeError).message).toMatch(/^bitrix24-companies: crm\.company\.list failed: .*NO_AUTH_FOUND/);
    expect((refused as ExchangeError).message).not.toContain(server.code);

    server.authFailure = undefined;
    server.failNext = 1;
    const failed = (await pull(context, null).catch((error: unknown) => error)) as ExchangeError;
    expect([failed.code, failed.exitCode]).toEqual(['SOURCE_UNAVAILABLE', 69]);
    expect(failed.message).toMatch(/HTTP 500/);

    await server.stop();
    const down = (await pull(context, null).catch((error: unknown) => error)) as ExchangeError;
    expect(down.code).toBe('SOURCE_UNAVAILABLE');
    expect(down.message).not.toContain(server.code);

    const noWebhook = (await pull({ ...context, config: parseConfig({}) }, null).catch((error: unknown) => error)) as ExchangeError;
    expect([noWebhook.code, noWebhook.details]).toEqual(['CONFIG', ['crm.webhookUrl: required by the bitrix24-companies provider (or set EXCHANGE_BITRIX24_WEBHOOK)']]);
  });

  it('settings.fields names only fields the company mapping fills from the record', async () => {
    const { context } = await setup();
    expect(bitrix24CompaniesProvider.settings.safeParse({ pageSize: 70 }).success).toBe(false);
    const error = (await pull(context, null, { fields: ['TITLE', 'ORIGIN_ID', 'INDUSTRY'] }).catch((e: unknown) => e)) as ExchangeError;
    expect(error.code).toBe('CONFIG');
    expect(error.details).toEqual([
      'settings.fields: ORIGIN_ID is not filled from a record field by crm.fields.company (its source: none), so it cannot come back',
      'settings.fields: INDUSTRY is not filled from a record field by crm.fields.company (its source: none), so it cannot come back',
    ]);
  });
});
