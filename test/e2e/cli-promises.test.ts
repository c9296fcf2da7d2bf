import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, managementUrl, uniqueName } from '../support/services.js';

/**
 * Promises of DESIGN §2 and §4 that no other test held the binary to: flags over the environment over the file,
 * --quiet, paging through `records list`, secrets masked in `exchange config` and the run journal, and `status`
 * showing runs and locks. Each checks the built CLI from outside: its output, or the store's tables read directly.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });
const closedBroker = 'amqp://guest:guest@127.0.0.1:1';
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');

function workdir(config: Record<string, unknown> = {}) {
  const work = tempWorkdir(config);
  cleanups.push(work.remove);
  return work.dir;
}

describe('precedence: defaults < file < environment < flags (DESIGN §4)', () => {
  it('--config names the file over EXCHANGE_CONFIG; the environment overrides the file it names', async () => {
    const dir = workdir();
    const fromEnv = path.join(dir, 'env.json');
    const fromFlag = path.join(dir, 'flag.json');
    fs.writeFileSync(fromEnv, JSON.stringify({ tenant: 'from-env-file', amqp: { prefetch: 11 } }));
    fs.writeFileSync(fromFlag, JSON.stringify({ tenant: 'from-flag-file', amqp: { prefetch: 22, url: 'amqp://file-host:5672' } }));
    const env = { EXCHANGE_CONFIG: fromEnv };

    const byEnv = await runCli(['config', '--json'], { cwd: dir, env });
    expect(byEnv.code, byEnv.stderr).toBe(0);
    expect(byEnv.json[0]).toMatchObject({ event: 'config', file: fromEnv, config: { tenant: 'from-env-file', amqp: { prefetch: 11 } } });

    const byFlag = await runCli(['config', '--json', '--config', fromFlag], { cwd: dir, env });
    expect(byFlag.code, byFlag.stderr).toBe(0);
    expect(byFlag.json[0]).toMatchObject({ event: 'config', file: fromFlag, config: { tenant: 'from-flag-file', amqp: { prefetch: 22, url: 'amqp://file-host:5672' } } });

    // Environment over the file the flag chose; what the environment does not set still comes from the file.
    const envOverFile = await runCli(['config', '--json', '--config', fromFlag], {
      cwd: dir, env: { ...env, EXCHANGE_TENANT: 'from-env', EXCHANGE_AMQP_URL: 'amqp://env-host:5672', EXCHANGE_RECORD_STORE: `sqlite:${path.join(dir, 'env.db')}` },
    });
    expect(envOverFile.json[0]).toMatchObject({
      file: fromFlag,
      config: { tenant: 'from-env', amqp: { prefetch: 22, url: 'amqp://env-host:5672' }, recordStore: { url: `sqlite:${path.join(dir, 'env.db')}` } },
    });
    // A --config that does not exist is an error even when EXCHANGE_CONFIG names a good file.
    const missing = await runCli(['config', '--config', path.join(dir, 'nope.json')], { cwd: dir, env });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('nope.json');
  });
});

describe('--quiet', () => {
  it('prints nothing at all on success where the same run otherwise prints its answer', async () => {
    const dir = workdir();
    const env = { EXCHANGE_AMQP_URL: closedBroker };
    const loud = await runCli(['import', 'product', catalog, '--dry-run'], { cwd: dir, env });
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stdout).toContain(`${catalog}: 36 product`);
    const quiet = await runCli(['import', 'product', catalog, '--dry-run', '--quiet'], { cwd: dir, env });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect({ stdout: quiet.stdout, stderr: quiet.stderr }).toEqual({ stdout: '', stderr: '' });
    // Even with --verbose beside it, a quiet run keeps silent on success.
    const both = await runCli(['import', 'product', catalog, '--dry-run', '--quiet', '--verbose'], { cwd: dir, env });
    expect(both.code).toBe(0);
    expect(both.stdout).not.toContain('36 product');
    // Errors still speak: --quiet is "nothing but errors".
    const failing = await runCli(['user', '--quiet'], { cwd: dir, env });
    expect(failing.code).toBe(69);
    expect(failing.stderr).not.toBe('');
  });
});

describe('exchange records list', () => {
  it('pages with --limit and --after through more records than a page, every id once, in id order', async () => {
    const dir = workdir();
    const env = { EXCHANGE_AMQP_URL: closedBroker };
    // The store is created by the binary's first use; 25 rows are then written with plain SQL.
    expect((await runCli(['records', 'count', 'user'], { cwd: dir, env })).stdout.trim()).toBe('0');
    const ids = Array.from({ length: 25 }, (_, i) => `u-${String(i).padStart(3, '0')}`);
    const db = new Database(path.join(dir, 'exchange.db'));
    const insert = db.prepare("INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at) VALUES ('user', ?, '1', 'n:1', 'h', ?, 0, '2026-01-01T00:00:00.000Z')");
    for (const id of [...ids].reverse()) insert.run(id, JSON.stringify({ name: `name of ${id}` }));
    // A record of another type never shows in the user pages.
    db.prepare("INSERT INTO records (type, id, version, version_key, hash, data, deleted, updated_at) VALUES ('product', 'p-1', '1', 'n:1', 'h', '{}', 0, '2026-01-01T00:00:00.000Z')").run();
    db.close();

    const pages: string[][] = [];
    let after: string | undefined;
    for (let page = 0; page < 5; page++) {
      const result = await runCli(['records', 'list', 'user', '--limit', '10', '--json', ...(after ? ['--after', after] : [])], { cwd: dir, env });
      expect(result.code, result.stderr).toBe(0);
      const pageIds = result.json.map((record) => String(record.id));
      pages.push(pageIds);
      if (pageIds.length === 0) break;
      after = pageIds[pageIds.length - 1];
    }
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5, 0]);
    expect(pages.flat()).toEqual(ids);
    const first = await runCli(['records', 'list', 'user', '--limit', '1', '--json'], { cwd: dir, env });
    expect(first.json).toHaveLength(1);
    expect(first.json[0]).toMatchObject({ id: 'u-000', data: { name: 'name of u-000' } });
  });
});

describe('secrets masked end to end (DESIGN §4)', () => {
  it('a password in EXCHANGE_AMQP_URL appears neither in `exchange config` nor in `exchange runs` after a failed run', async () => {
    const dir = workdir();
    const secret = 'Sup3r-S3cret-pw';
    const env = { EXCHANGE_AMQP_URL: `amqp://guest:${secret}@127.0.0.1:1`, EXCHANGE_BITRIX24_WEBHOOK: 'https://portal.example.test/rest/1/webhookcode42/' };
    for (const args of [['config'], ['config', '--json']]) {
      const shown = await runCli(args, { cwd: dir, env });
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain('amqp://guest:***@127.0.0.1:1');
      expect(shown.stdout + shown.stderr).not.toContain(secret);
      expect(shown.stdout + shown.stderr).not.toContain('webhookcode42');
    }
    const failed = await runCli(['user', '--json'], { cwd: dir, env });
    expect(failed.code).toBe(69);
    expect(failed.stdout + failed.stderr).not.toContain(secret);
    for (const args of [['runs'], ['runs', '--json']]) {
      const runs = await runCli(args, { cwd: dir, env });
      expect(runs.code, runs.stderr).toBe(0);
      expect(runs.stdout).toContain('127.0.0.1:1');
      expect(runs.stdout + runs.stderr).not.toContain(secret);
    }
    const [run] = (await runCli(['runs', '--json'], { cwd: dir, env })).json;
    expect(run).toMatchObject({ command: 'user', status: 'failed' });
    expect(String(run.error)).toContain('amqp://guest:***@127.0.0.1:1');
  });
});

describe('exchange status shows the run journal and held locks', () => {
  let broker: TestBroker;
  beforeAll(async () => { broker = await TestBroker.open(); });
  afterAll(async () => { await broker.close(); });

  it('lists the last runs with their status and every lock with its holder and expiry', async () => {
    const tenant = uniqueName('t');
    const dir = workdir({ drain: { idleMs: 300 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
    cleanups.push(() => broker.deleteTenant(tenant));
    expect((await runCli(['setup'], { cwd: dir, env })).code).toBe(0);
    await broker.publishMany(`${tenant}.user`, 'user.upsert', userBodies(['s-1', 's-2']));
    const drained = await runCli(['user', '--json'], { cwd: dir, env });
    expect(drained.summary).toMatchObject({ read: 2, written: 2, exitCode: 0 });
    const failed = await runCli(['user'], { cwd: dir, env: { ...env, EXCHANGE_AMQP_URL: closedBroker } });
    expect(failed.code).toBe(69);
    // A lock another host holds for the next hour, written as the store writes one.
    const until = Date.now() + 3_600_000;
    const db = new Database(path.join(dir, 'exchange.db'));
    db.prepare('INSERT INTO locks (name, lock_until, locked_at, locked_by) VALUES (?, ?, ?, ?)').run(`drain:${tenant}.product`, until, Date.now(), 'other-host:4242');
    db.prepare('INSERT INTO locks (name, lock_until, locked_at, locked_by) VALUES (?, ?, ?, ?)').run('drain:expired', Date.now() - 1000, Date.now() - 60_000, 'gone-host:1');
    db.close();

    const json = await runCli(['status', '--json'], { cwd: dir, env });
    const report = json.json.find((event) => event.event === 'status')!;
    expect((report.locks as Array<Record<string, unknown>>).map((lock) => [lock.name, lock.lockedBy])).toEqual([[`drain:${tenant}.product`, 'other-host:4242']]);
    const runs = report.lastRuns as Array<Record<string, unknown>>;
    expect(runs.filter((run) => run.command === 'user').map((run) => run.status)).toEqual(['failed', 'ok']);

    const text = await runCli(['status'], { cwd: dir, env });
    const lines = text.stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('lock '))).toEqual([`lock drain:${tenant}.product: held by other-host:4242 until ${new Date(until).toISOString()}`]);
    const runLines = lines.filter((line) => line.startsWith('run '));
    expect(runLines[0]).toMatch(/^run \d+ user \S+ failed: /);
    expect(runLines[1]).toMatch(/^run \d+ user \S+ ok$/);
  });

  it('takes --prefetch over amqp.prefetch of the file (the consumer the broker sees)', async () => {
    const tenant = uniqueName('t');
    const dir = workdir({ amqp: { prefetch: 42 }, drain: { idleMs: 400 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
    cleanups.push(() => broker.deleteTenant(tenant));
    expect((await runCli(['setup'], { cwd: dir, env })).code).toBe(0);
    const queue = `${tenant}.user.records`;
    const consumerPrefetch = async (args: string[]): Promise<number> => {
      let seen: number | undefined;
      // The management API's consumer list is refreshed every 5 s: the consumer stays long enough to be seen.
      const running = runCli(['user', '--idle-ms', '12000', ...args], { cwd: dir, env, timeoutMs: 40_000 });
      await waitFor(`a consumer on ${queue}`, async () => {
        const url = new URL(managementUrl);
        const response = await fetch(`${url.origin}/api/consumers/%2F`, { headers: { authorization: `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` } });
        if (!response.ok) return false;
        const consumers = (await response.json()) as Array<{ queue: { name: string }; prefetch_count: number }>;
        seen = consumers.find((consumer) => consumer.queue.name === queue)?.prefetch_count;
        return seen !== undefined;
      }, 20_000, 100);
      expect((await running).code).toBe(0);
      return seen!;
    };
    expect(await consumerPrefetch([])).toBe(42);
    expect(await consumerPrefetch(['--prefetch', '7'])).toBe(7);
  }, 90_000);
});
