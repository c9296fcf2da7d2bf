import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { CbrServer, type CbrFailure } from '../support/cbr-server.js';
import { waitFor } from '../support/chaos.js';
import { runCli, type CliResult } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

/**
 * `exchange sync` with the cbr-rates provider against a stand-in of the CBR's XML_daily.asp (issue 9, DESIGN §10).
 * Currencies per answer, counted in the real files of fixtures/cbr: 43 on 27.09.2023 (and on every synthetic day,
 * made from it), 55 on 13.12.2025.
 */
const perDay = 43;
const dec13 = 55;

let broker: TestBroker;
let cbr: CbrServer;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await cbr?.close();
});

interface Scenario {
  cli: (...args: string[]) => Promise<CliResult>;
  spawn: (args: string[], onSpawn: (pid: number) => void) => Promise<CliResult>;
  configure: (settings: Record<string, unknown>, sync?: Record<string, unknown>) => void;
  sql: (statement: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>;
  tenant: string;
}

async function scenario(engine: 'sqlite' | 'postgres' = 'sqlite'): Promise<Scenario> {
  cbr = await CbrServer.start();
  const tenant = uniqueName('t');
  const work = tempWorkdir();
  const pgSchema = engine === 'postgres' ? await createPgSchema() : undefined;
  const storeUrl = pgSchema?.url ?? `sqlite:${path.join(work.dir, 'exchange.db')}`;
  cleanups.push(async () => { await broker.deleteTenant(tenant); await pgSchema?.drop(); work.remove(); });
  const configure = (settings: Record<string, unknown>, sync: Record<string, unknown> = {}) => {
    fs.writeFileSync(path.join(work.dir, '.exchangerc.json'), JSON.stringify({
      recordStore: { url: storeUrl },
      syncs: { cbr: { provider: 'cbr-rates', schedule: '1d', ...sync, settings: { url: cbr.url, timeoutMs: 1000, ...settings } } },
    }));
  };
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 60_000 });
  const spawn = (args: string[], onSpawn: (pid: number) => void) => runCli(args, { env, cwd: work.dir, timeoutMs: 60_000, onSpawn });
  const sql = async (statement: string, params: unknown[] = []) => {
    if (pgSchema) {
      const client = new pg.Client(pgSchema.url);
      await client.connect();
      try { return (await client.query(statement.replace(/\?/g, (() => { let i = 0; return () => `$${++i}`; })()), params)).rows; } finally { await client.end(); }
    }
    const db = new Database(path.join(work.dir, 'exchange.db'));
    try {
      const prepared = db.prepare(statement);
      return prepared.reader ? prepared.all(...params) as Array<Record<string, unknown>> : (prepared.run(...params), []);
    } finally { db.close(); }
  };
  configure({ until: '2025-12-15', daysBack: 5 });
  const setup = await cli('setup');
  expect(setup.code, setup.stderr).toBe(0);
  return { cli, spawn, configure, sql, tenant };
}

async function status(s: Scenario): Promise<Record<string, any>> {
  const result = await s.cli('sync', 'status', 'cbr', '--json');
  expect(result.code, result.stderr).toBe(0);
  return result.json[0];
}

async function counts(s: Scenario): Promise<{ records: number; outbox: number; pending: number }> {
  const [records] = await s.sql("SELECT COUNT(*) AS n FROM records WHERE type = 'rate'");
  const [outbox] = await s.sql("SELECT COUNT(*) AS n FROM outbox WHERE type = 'rate'");
  const [pending] = await s.sql('SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL');
  return { records: Number(records.n), outbox: Number(outbox.n), pending: Number(pending.n) };
}

describe('exchange sync: cbr-rates', () => {
  it.each(['sqlite', 'postgres'] as const)('%s: pages through days, records the CBR\'s own date on weekends, runs incrementally, resets', async (engine) => {
    const s = await scenario(engine);
    const first = await s.cli('sync', 'cbr', '--json');
    expect(first.code, first.stderr).toBe(0);
    // 11 (Thu) and 12 (Fri): own rates; 13 (Sat): the real document; 14 (Sun) and 15 (Mon) answer the 13th's again.
    expect(cbr.requests).toEqual(['2025-12-11', '2025-12-12', '2025-12-13', '2025-12-14', '2025-12-15']);
    expect(first.summary).toMatchObject({ command: 'sync:cbr', read: 2 * perDay + dec13, written: 2 * perDay + dec13, published: 2 * perDay + dec13, exitCode: 0 });
    await broker.waitForDepth(`${s.tenant}.rate.records`, 2 * perDay + dec13);
    expect(await counts(s)).toEqual({ records: 2 * perDay + dec13, outbox: 2 * perDay + dec13, pending: 0 });
    const usd = JSON.parse((await s.cli('records', 'get', 'rate', 'USD:2025-12-13', '--json')).stdout);
    expect(usd).toMatchObject({ version: '2025-12-13', data: { charCode: 'USD', numCode: '840', name: 'US Dollar', nominal: 1, value: 79.7296, date: '2025-12-13' } });
    const jpy = JSON.parse((await s.cli('records', 'get', 'rate', 'JPY:2025-12-13', '--json')).stdout);
    expect(jpy.data).toMatchObject({ nominal: 100, value: 51.2138 });
    expect((await s.cli('records', 'get', 'rate', 'USD:2025-12-14')).code).not.toBe(0);
    expect(await status(s)).toMatchObject({
      name: 'cbr', provider: 'cbr-rates', enabled: true, status: 'idle', cursor: '2025-12-15', error: null, processed: 2 * perDay + dec13,
      counts: { read: 2 * perDay + dec13, written: 2 * perDay + dec13, unchanged: 0, stale: 0 },
    });

    // Two days later: only the new days are asked for.
    cbr.requests.length = 0;
    s.configure({ until: '2025-12-17', daysBack: 5 });
    const second = await s.cli('sync', 'cbr', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-16', '2025-12-17']);
    expect(second.summary).toMatchObject({ read: 2 * perDay, written: 2 * perDay, published: 2 * perDay });
    expect(await status(s)).toMatchObject({ cursor: '2025-12-17', processed: 4 * perDay + dec13 });

    cbr.requests.length = 0;
    const nothingNew = await s.cli('sync', 'cbr', '--json');
    expect(nothingNew.code).toBe(0);
    expect(cbr.requests).toEqual([]);
    expect(nothingNew.summary).toMatchObject({ read: 0, written: 0, published: 0 });

    const reset = await s.cli('sync', 'reset', 'cbr');
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('its cursor was 2025-12-17');
    expect(await status(s)).toMatchObject({ cursor: null, processed: 0 });
    const again = await s.cli('sync', 'cbr', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-13', '2025-12-14', '2025-12-15', '2025-12-16', '2025-12-17']);
    // Rates of a past day never change: read again, stored once, nothing published twice.
    expect(again.summary).toMatchObject({ read: dec13 + 2 * perDay, written: 0, unchanged: dec13 + 2 * perDay, published: 0, exitCode: 0 });
    expect(await counts(s)).toEqual({ records: 4 * perDay + dec13, outbox: 4 * perDay + dec13, pending: 0 });
  }, 120_000);

  it('keeps only the configured currencies; a disabled sync does not run (exit 0, says so) until enabled', async () => {
    const s = await scenario();
    s.configure({ until: '2025-12-13', daysBack: 1, currencies: ['USD', 'EUR', 'CNY'] });
    expect((await s.cli('sync', 'disable', 'cbr')).code).toBe(0);
    const disabled = await s.cli('sync', 'cbr');
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toContain('sync cbr is disabled');
    expect((await s.cli('sync')).code).toBe(0);
    expect(cbr.requests).toEqual([]);
    expect(await status(s)).toMatchObject({ enabled: false, nextRunAt: null });
    expect((await s.cli('sync', 'enable', 'cbr')).code).toBe(0);
    const run = await s.cli('sync', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.summary).toMatchObject({ read: 3, written: 3 });
    expect((await s.cli('records', 'count', 'rate')).stdout.trim()).toBe('3');
    expect(JSON.parse((await s.cli('records', 'get', 'rate', 'CNY:2025-12-13', '--json')).stdout).data).toMatchObject({ nominal: 1, date: '2025-12-13' });
  }, 60_000);

  it.each<[CbrFailure, RegExp]>([
    ['http-500', /HTTP 500/],
    ['timeout', /no answer within 1000 ms/],
    ['html', /holds no rates.*Сервис временно недоступен/],
  ])('a provider failure (%s) is exit 69 with status error and the text kept; the next run resumes at the saved day', async (failure, text) => {
    const s = await scenario();
    cbr.failures.set('2025-12-12', failure);
    const failed = await s.cli('sync', 'cbr', '--json');
    expect(failed.code).toBe(69);
    expect(failed.stderr).toMatch(text);
    const state = await status(s);
    expect(state).toMatchObject({ status: 'error', cursor: '2025-12-11', processed: perDay });
    expect(state.error).toMatch(text);
    expect(await counts(s)).toEqual({ records: perDay, outbox: perDay, pending: 0 });

    cbr.failures.clear();
    cbr.requests.length = 0;
    const resumed = await s.cli('sync', 'cbr', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-12', '2025-12-13', '2025-12-14', '2025-12-15']);
    expect(await status(s)).toMatchObject({ status: 'idle', error: null, cursor: '2025-12-15', processed: 2 * perDay + dec13 });
    expect(await counts(s)).toEqual({ records: 2 * perDay + dec13, outbox: 2 * perDay + dec13, pending: 0 });
  }, 60_000);

  it('starts over when the provider\'s stateVersion is above the saved one', async () => {
    const s = await scenario();
    s.configure({ until: '2025-12-13', daysBack: 1 });
    expect((await s.cli('sync', 'cbr')).code).toBe(0);
    s.configure({ until: '2025-12-15', daysBack: 3 });
    await s.sql("UPDATE sync_state SET state_version = 0 WHERE name = 'cbr'");
    cbr.requests.length = 0;
    const run = await s.cli('sync', 'cbr', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('state version 0 → 1');
    expect(cbr.requests).toEqual(['2025-12-13', '2025-12-14', '2025-12-15']);
    expect(await status(s)).toMatchObject({ stateVersion: 1, cursor: '2025-12-15', processed: dec13 });
  }, 60_000);

  it('`exchange sync` runs a sync that is due by its schedule and skips one that is not', async () => {
    const s = await scenario();
    s.configure({ until: '2025-12-13', daysBack: 1 }, { schedule: '1d' });
    const never = await s.cli('sync', '--json');
    expect(never.code, never.stderr).toBe(0);
    expect(never.summary).toMatchObject({ command: 'sync:cbr', read: dec13 });
    s.configure({ until: '2025-12-15', daysBack: 1 }, { schedule: '1d' });
    cbr.requests.length = 0;
    const notDue = await s.cli('sync', '--json');
    expect(notDue.code).toBe(0);
    expect(notDue.json).toContainEqual(expect.objectContaining({ event: 'skipped', name: 'cbr', reason: 'not-due' }));
    expect(cbr.requests).toEqual([]);
    const view = await status(s);
    expect(Date.parse(view.nextRunAt)).toBeGreaterThan(Date.now());
    // Its last run two days back: due.
    await s.sql("UPDATE sync_state SET last_run_at = ? WHERE name = 'cbr'", [new Date(Date.now() - 2 * 86_400_000).toISOString()]);
    const due = await s.cli('sync', '--json');
    expect(due.code, due.stderr).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-14', '2025-12-15']);
    // A cron schedule whose next occurrence is far off after the run just made: not due.
    s.configure({ until: '2025-12-16', daysBack: 1 }, { schedule: '0 0 1 1 *' });
    cbr.requests.length = 0;
    const cronNotDue = await s.cli('sync', '--json');
    expect(cronNotDue.json).toContainEqual(expect.objectContaining({ event: 'skipped', reason: 'not-due' }));
    expect(cbr.requests).toEqual([]);
    // Named, it runs now whatever the schedule.
    expect((await s.cli('sync', 'cbr')).code).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-16']);
  }, 60_000);

  it('two overlapping runs: the second skips naming the holder (75 by name, a line and 0 in the cron run)', async () => {
    const s = await scenario();
    s.configure({ until: '2025-12-15', daysBack: 5, timeoutMs: 60_000 }, { schedule: '1s' });
    // The first run waits in its first request until both others have run, however slow the machine is.
    const release = cbr.hold();
    const first = s.cli('sync', 'cbr');
    await waitFor('the first run to hold its lock', async () => (await s.sql("SELECT 1 AS held FROM sync_state WHERE name = 'cbr' AND status = 'running'")).length === 1, 20_000);
    const byName = await s.cli('sync', 'cbr');
    expect(byName.code, byName.stderr).toBe(75);
    expect(byName.stderr).toMatch(/another run holds the lock "sync:cbr" \(.+:\d+:[0-9a-f]+, until \d{4}-\d{2}-\d{2}T/);
    // The cron run must find the sync due (schedule 1 s after the held run started) to reach its lock: a fast
    // machine gets here within that second, and then the sync is merely not due.
    const [{ last_run_at: lastRunAt }] = await s.sql("SELECT last_run_at FROM sync_state WHERE name = 'cbr'");
    await waitFor('the held run to be a second old', () => Date.now() > new Date(lastRunAt as string).getTime() + 1000, 10_000, 50);
    const cronRun = await s.cli('sync');
    expect(cronRun.code).toBe(0);
    expect(cronRun.stderr).toMatch(/sync cbr: skipped, another run holds the lock "sync:cbr" \(.+, until /);
    release();
    expect((await first).code).toBe(0);
    expect(cbr.requests).toEqual(['2025-12-11', '2025-12-12', '2025-12-13', '2025-12-14', '2025-12-15']);
    expect(await counts(s)).toEqual({ records: 2 * perDay + dec13, outbox: 2 * perDay + dec13, pending: 0 });
  }, 60_000);

  it.each(['sqlite', 'postgres'] as const)('%s: kill -9 mid-sync resumes at the last saved day once its lock expires: no rate lost or doubled', async (engine) => {
    const s = await scenario(engine);
    // Long enough that the run right after the kill starts inside it even on a loaded machine.
    s.configure({ until: '2025-12-17', daysBack: 10 }, { lockAtMostForMs: 10_000 });
    cbr.delayMs = 400;
    let pid = 0;
    const killed = s.spawn(['sync', 'cbr'], (p) => { pid = p; });
    await waitFor('two days saved', async () => {
      const [row] = await s.sql("SELECT cursor FROM sync_state WHERE name = 'cbr'");
      return Boolean(row?.cursor) && String(row.cursor) >= '2025-12-09';
    }, 30_000, 20);
    process.kill(pid, 'SIGKILL');
    expect((await killed).code).toBe(null);
    const [{ cursor }] = await s.sql("SELECT cursor FROM sync_state WHERE name = 'cbr'");
    expect(String(cursor) < '2025-12-17').toBe(true);
    const view = await status(s);
    expect(view.status).toBe('running');
    expect(view.lockedBy).toMatch(/:\d+:/);

    // The dead run's lock holds until it expires: 75, nothing asked.
    cbr.delayMs = 0;
    cbr.requests.length = 0;
    const early = await s.cli('sync', 'cbr');
    expect(early.code).toBe(75);
    expect(cbr.requests).toEqual([]);
    await waitFor('the lock to expire', async () => (await s.sql("SELECT 1 AS held FROM locks WHERE name = 'sync:cbr' AND lock_until > ?", [engine === 'postgres' ? new Date() : Date.now()])).length === 0, 25_000);
    const resumed = await s.cli('sync', 'cbr', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(cbr.requests[0]).toBe(nextDay(String(cursor)));
    // 8 (Mon) → rates of Sat 6; 9, 10, 11, 12, 13 (real), 16, 17: own rates; 14, 15 → the 13th's.
    const total = 7 * perDay + dec13;
    expect(await counts(s)).toEqual({ records: total, outbox: total, pending: 0 });
    expect(await status(s)).toMatchObject({ status: 'idle', cursor: '2025-12-17', lockedBy: null });
    await broker.waitForDepth(`${s.tenant}.rate.records`, total);
  }, 90_000);
});

describe('exchange sync: SIGTERM and the listing', () => {
  it('SIGTERM stops after the page in hand: it is saved and published, status idle, the next run resumes after it', async () => {
    const s = await scenario();
    s.configure({ until: '2025-12-17', daysBack: 10 });
    cbr.delayMs = 400;
    let pid = 0;
    const stopped = s.spawn(['sync', 'cbr', '--json'], (p) => { pid = p; });
    await waitFor('a day saved', async () => Boolean((await s.sql("SELECT cursor FROM sync_state WHERE name = 'cbr'"))[0]?.cursor), 30_000, 20);
    process.kill(pid, 'SIGTERM');
    const result = await stopped;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('SIGTERM received');
    const view = await status(s);
    expect(view).toMatchObject({ status: 'idle', error: null, lockedBy: null });
    expect(view.cursor < '2025-12-17').toBe(true);
    // Every request it made was a page it saved: the one in hand when the signal came was finished, not dropped.
    expect(cbr.requests[cbr.requests.length - 1]).toBe(view.cursor);
    const saved = await counts(s);
    expect(saved.pending).toBe(0);
    expect(saved.records).toBe(view.processed);
    cbr.delayMs = 0;
    cbr.requests.length = 0;
    expect((await s.cli('sync', 'cbr')).code).toBe(0);
    expect(cbr.requests[0]).toBe(nextDay(view.cursor));
    expect(await counts(s)).toEqual({ records: 7 * perDay + dec13, outbox: 7 * perDay + dec13, pending: 0 });
  }, 60_000);

  it('`sync list` lists (a sync is never named list); an unknown name is a usage error naming the configured ones', async () => {
    const s = await scenario();
    const list = await s.cli('sync', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(list.json).toEqual([{ name: 'cbr', provider: 'cbr-rates', enabled: true, schedule: '1d', status: 'never run', nextRunAt: expect.any(String) }]);
    expect(cbr.requests).toEqual([]);
    const unknown = await s.cli('sync', 'ecb');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('no sync is named "ecb"');
    expect(unknown.stderr).toContain('the config has: cbr');
  }, 60_000);
});

function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
