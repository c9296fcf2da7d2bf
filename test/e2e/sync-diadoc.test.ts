import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { storeCounts } from '../support/store-counts.js';
import { DiadocServer, startDiadocServer, ticksOf, type BoxEventInput } from '../support/diadoc-server.js';

const ourBox = '4f2b3c1d-0a9e-4e7f-8b6a-1c2d3e4f5a6b';
const theirBox = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const apiClientId = 'e2eClient-3c1f2a9b8d7e4f60a1b2c3d4e5f60718';
const token = 'E2eT0ken/With+Base64Chars==';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });

const dirs: string[] = [];
const servers: DiadocServer[] = [];
const tenants: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const tenant of tenants.splice(0)) await broker.deleteTenant(tenant);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function diadoc(): Promise<DiadocServer> {
  const server = await startDiadocServer({ apiClientId, tokens: { [token]: [ourBox] } });
  servers.push(server);
  return server;
}

function workdir(config: unknown): { dir: string; env: NodeJS.ProcessEnv; tenant: string; store: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-diadoc-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, '.exchangerc.json'), JSON.stringify(config, null, 2));
  const tenant = `diadoc-e2e-${path.basename(dir).replace(/[^a-zA-Z0-9]/g, '')}`;
  tenants.push(tenant);
  const store = `sqlite:${path.join(dir, 'store.db')}`;
  return { dir, env: { EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: store }, tenant, store };
}

function ediSync(server: DiadocServer | { url: string }, extra: Record<string, unknown> = {}) {
  return { syncs: { edi: { provider: 'diadoc-events', schedule: '*/5 * * * *', settings: { url: server.url, boxId: ourBox, apiClientId, token, ...extra } } } };
}

/** The exchanges and queues the sync publishes through (a sync refuses to publish into missing queues). */
async function setup(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const result = await runCli(['setup'], { cwd: dir, env });
  expect(result.code, result.stderr).toBe(0);
}

async function status(dir: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const result = await runCli(['sync', 'status', 'edi', '--json'], { cwd: dir, env });
  expect(result.code).toBe(0);
  return result.json.find((line) => line.name === 'edi')!;
}

function events(count: number, from = 0): BoxEventInput[] {
  return Array.from({ length: count }, (_, i) => {
    const id = String(from + i).padStart(12, '0');
    return {
      EventId: `e${id.slice(0, 7)}-0000-4000-8000-${id}`,
      Message: {
        MessageId: `m${id.slice(0, 7)}-0000-4000-8000-${id}`,
        TimestampTicks: ticksOf('2026-02-01T08:00:00.000Z') + BigInt(from + i) * 10_000_000n,
        LastPatchTimestampTicks: ticksOf('2026-02-01T08:00:00.000Z') + BigInt(from + i) * 10_000_000n,
        FromBoxId: theirBox,
        FromTitle: 'ООО «Поставщик»',
        ToBoxId: ourBox,
        ToTitle: 'ООО «Покупатель»',
        MessageType: 'Letter',
        Entities: [{ EntityType: 'Attachment', EntityId: `d${id.slice(0, 7)}-0000-4000-8000-${id}`, AttachmentType: 'Nonformalized', FileName: `letter-${from + i}.pdf` }],
      },
    };
  });
}

describe('diadoc-events through the CLI', () => {
  it('`exchange config` shows the sync with its credentials masked', async () => {
    const server = await diadoc();
    const { dir, env } = workdir({
      syncs: { edi: { provider: 'diadoc-events', schedule: '*/5 * * * *', settings: { url: server.url, boxId: ourBox, apiClientId, token } } },
    });
    const result = await runCli(['config', '--json'], { cwd: dir, env });
    expect(result.code).toBe(0);
    const config = result.json.find((event) => event.event === 'config')!.config as { syncs: Record<string, { settings: Record<string, unknown> }> };
    expect(config.syncs.edi.settings).toEqual({ url: server.url, boxId: ourBox, apiClientId: '***', token: '***', pageSize: 100, timeoutMs: 30_000 });
    expect(result.stdout + result.stderr).not.toContain(token);
    expect(result.stdout + result.stderr).not.toContain(apiClientId);
  });

  it('bad settings are exit 78 naming syncs.<name>.settings.<key>', async () => {
    const { dir, env } = workdir({
      syncs: { edi: { provider: 'diadoc-events', schedule: '15m', settings: { boxId: 'not-a-guid', apiClientId, token, pageSize: 500 } } },
    });
    const result = await runCli(['config'], { cwd: dir, env });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('syncs.edi.settings.boxId: the box id as a GUID (BoxIdGuid in GetMyOrganizations)');
    expect(result.stderr).toContain('syncs.edi.settings.pageSize:');
    expect(result.stderr).not.toContain(token);
  });
});

describe('exchange sync <name> with diadoc-events', () => {
  it('reads the whole box in pages into the store and the exchange, then only what is new', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, events(250));
    const { dir, env, tenant, store } = workdir(ediSync(server));
    await setup(dir, env);

    const first = await runCli(['sync', 'edi', '--json'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    const keys = server.eventsOf(ourBox).map((event) => event.IndexKey);
    expect(server.feedRequests.map((r) => r.query.get('afterIndexKey'))).toEqual([null, keys[99], keys[199]]);
    let counts = await storeCounts(store);
    expect(counts.records).toBe(250);
    expect(counts.outboxPending).toBe(0);
    // The version of event 7 is its time in .NET ticks: 2026-02-01T08:00:07Z.
    expect(counts.versions.get(server.eventsOf(ourBox)[7].EventId)).toBe('0639055296070000000');
    expect(await broker.depth(`${tenant}.edi-event.records`)).toBe(250);
    expect(await status(dir, env)).toMatchObject({ provider: 'diadoc-events', status: 'idle', cursor: keys[249], error: null, processed: 250 });

    server.addEvents(ourBox, events(3, 1000));
    const second = await runCli(['sync', 'edi', '--json'], { cwd: dir, env });
    expect(second.code, second.stderr).toBe(0);
    expect(server.feedRequests.at(-1)!.query.get('afterIndexKey')).toBe(keys[249]);
    counts = await storeCounts(store);
    expect(counts.records).toBe(253);
    expect(await broker.depth(`${tenant}.edi-event.records`)).toBe(253);
    expect(await status(dir, env)).toMatchObject({ status: 'idle', cursor: server.eventsOf(ourBox)[252].IndexKey, processed: 253 });
  });

  it('402 on the second page: exit 69, the first page kept with its cursor and the reason in the status; the next run resumes there', async () => {
    const server = await diadoc();
    server.addEvents(ourBox, events(150));
    const { dir, env, store } = workdir(ediSync(server));
    await setup(dir, env);
    const keys = server.eventsOf(ourBox).map((event) => event.IndexKey);
    server.failNext('pass', { status: 402, body: `The API subscription of box ${ourBox} has expired` });
    const refused = await runCli(['sync', 'edi'], { cwd: dir, env });
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain(`the organisation's Diadoc API subscription for box ${ourBox} has ended (402 Payment Required)`);
    expect(refused.stderr).toContain('renew the organisation\'s Diadoc API subscription');
    expect(await status(dir, env)).toMatchObject({ status: 'error', cursor: keys[99], processed: 100, error: expect.stringContaining('402 Payment Required') });
    expect((await storeCounts(store)).records).toBe(100);

    const resumed = await runCli(['sync', 'edi'], { cwd: dir, env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(server.feedRequests.at(-1)!.query.get('afterIndexKey')).toBe(keys[99]);
    expect((await storeCounts(store)).records).toBe(150);
    expect(await status(dir, env)).toMatchObject({ status: 'idle', error: null, processed: 150, cursor: keys[149] });
  });

  it('403 (no access to the box) and a hung Diadoc are exit 69 saying which', async () => {
    const server = await diadoc();
    const otherBox = 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff';
    const forbidden = workdir(ediSync(server, { boxId: otherBox }));
    const refused = await runCli(['sync', 'edi'], { cwd: forbidden.dir, env: forbidden.env });
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain(`the user of these credentials lacks access to box ${otherBox} (403 Forbidden)`);

    server.failNext('hang');
    const hung = workdir(ediSync(server, { timeoutMs: 500 }));
    const timedOut = await runCli(['sync', 'edi'], { cwd: hung.dir, env: hung.env });
    expect(timedOut.code).toBe(69);
    expect(timedOut.stderr).toContain(`Diadoc at ${server.url} did not answer GetNewEvents: no answer in 500 ms`);
  });

  it('401: exit 69, the token in no output and not in the kept error', async () => {
    const server = await diadoc();
    const { dir, env } = workdir(ediSync(server, { token: 'Expired/Token+Value==' }));
    const result = await runCli(['sync', 'edi', '--verbose'], { cwd: dir, env });
    expect(result.code).toBe(69);
    expect(result.stderr).toContain('refused the credentials (401 Unauthorized) on GetNewEvents');
    const state = await status(dir, env);
    expect(state).toMatchObject({ status: 'error', error: expect.stringContaining('401 Unauthorized') });
    for (const text of [result.stdout, result.stderr, JSON.stringify(state)]) {
      expect(text).not.toContain('Expired/Token+Value==');
      expect(text).not.toContain(apiClientId);
    }
  });
});
