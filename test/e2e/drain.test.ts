import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies, userEnvelope } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });

/** Each test: its own tenant (so its own exchanges and queues) and its own working folder with an SQLite store. */
function scenario(config: Record<string, unknown> = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ amqp: { retryDelayMs: 300, ...(config.amqp as object) }, drain: { idleMs: 400 }, ...config });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, env, cli, queue: `${tenant}.user.records`, exchange: `${tenant}.user` };
}
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

describe('exchange user (drain, end to end through the built binary)', () => {
  it('takes at most --limit per run: 1003 messages, limit 100 → ten runs of 100, one of 3, then an empty run, all exit 0', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const ids = Array.from({ length: 1003 }, (_, i) => `u-${String(i).padStart(5, '0')}`);
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(ids));
    const reads: number[] = [];
    for (let run = 0; run < 12; run++) {
      const result = await s.cli('user', '--limit', '100', '--json');
      expect(result.code, result.stderr).toBe(0);
      expect(result.summary).toMatchObject({ event: 'summary', command: 'user', exitCode: 0 });
      reads.push(result.summary!.read as number);
      expect(result.summary!.written).toBe(result.summary!.read);
    }
    expect(reads).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 3, 0]);
    expect(await broker.depth(s.queue)).toBe(0);
    const count = await s.cli('records', 'count', 'user');
    expect(count.stdout.trim()).toBe('1003');
  });

  it('also answers to exchange:user, the form cron jobs use, and prints the summary keys of DESIGN §2', async () => {
    const s = scenario();
    await s.cli('setup');
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['a', 'b']));
    const result = await s.cli('exchange:user', '--json');
    expect(result.code).toBe(0);
    expect(Object.keys(result.summary!).sort()).toEqual(
      ['command', 'deadLettered', 'durationMs', 'event', 'exitCode', 'published', 'read', 'retried', 'stale', 'unchanged', 'written'].sort(),
    );
    expect(result.summary).toMatchObject({ read: 2, written: 2, exitCode: 0 });
    // Quiet on success when not on a terminal and not asked for JSON: nothing on stdout for cron to mail.
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['c']));
    const quiet = await s.cli('user');
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('');
  });

  it('counts stale and unchanged versions and writes neither', async () => {
    const s = scenario();
    await s.cli('setup');
    const newer = userEnvelope('x', { version: '2026-11-23T00:00:00Z', name: 'Новое имя' });
    const older = userEnvelope('x', { version: '2026-11-22T00:00:00Z', name: 'Старое имя' });
    await broker.publishMany(s.exchange, 'user.upsert', [JSON.stringify(newer)]);
    expect((await s.cli('user', '--json')).summary).toMatchObject({ written: 1 });
    await broker.publishMany(s.exchange, 'user.upsert', [JSON.stringify(older), JSON.stringify(newer)]);
    const second = await s.cli('user', '--json');
    expect(second.summary).toMatchObject({ read: 2, written: 0, stale: 1, unchanged: 1, exitCode: 0 });
    const record = await s.cli('records', 'get', 'user', 'x', '--json');
    expect(JSON.parse(record.stdout)).toMatchObject({ id: 'x', version: '2026-11-23T00:00:00Z', data: { name: 'Новое имя' } });
  });

  it('--dry-run reads and validates, writes nothing and leaves the queue exactly as it was', async () => {
    const s = scenario();
    await s.cli('setup');
    const bodies = [...userBodies(['d1', 'd2', 'd3']), '{not json', ...userBodies(['d4'])];
    await broker.publishMany(s.exchange, 'user.upsert', bodies);
    const before = (await broker.peekAll(s.queue)).map((m) => m.content.toString());
    const result = await s.cli('user', '--dry-run', '--json');
    expect(result.code).toBe(1);
    expect(result.summary).toMatchObject({ read: 5, written: 0, deadLettered: 1 });
    const after = (await broker.peekAll(s.queue)).map((m) => m.content.toString());
    expect(after).toEqual(before);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
    expect((await s.cli('records', 'count', 'user')).stdout.trim()).toBe('0');
  });

  it('sends invalid JSON and schema violations straight to .dlq with the failure headers, and the rest of the batch is written', async () => {
    const s = scenario();
    await s.cli('setup');
    const wrongShape = JSON.stringify({ ...userEnvelope('bad-shape'), data: { name: 42 } });
    await broker.publishMany(s.exchange, 'user.upsert', [...userBodies(['ok-1']), '{"type":"user",', wrongShape, ...userBodies(['ok-2'])]);
    const result = await s.cli('user', '--json');
    expect(result.code).toBe(1);
    expect(result.summary).toMatchObject({ read: 4, written: 2, deadLettered: 2, retried: 0, exitCode: 1 });
    const parked = await broker.takeAll(`${s.queue}.dlq`);
    expect(parked).toHaveLength(2);
    const byCode = Object.fromEntries(parked.map((m) => [m.properties.headers!['exchange-error-code'], m]));
    expect(Object.keys(byCode).sort()).toEqual(['INVALID_JSON', 'SCHEMA_VIOLATION']);
    const headers = byCode.SCHEMA_VIOLATION.properties.headers!;
    expect(headers['exchange-error']).toContain('data.name');
    expect(headers['exchange-attempts']).toBe(1);
    expect(headers['exchange-queue']).toBe(s.queue);
    expect(Number.isNaN(Date.parse(String(headers['exchange-failed-at'])))).toBe(false);
    expect(byCode.INVALID_JSON.content.toString()).toBe('{"type":"user",');
    const runs = await s.cli('runs', '--json');
    expect(runs.json[0]).toMatchObject({ command: 'user', status: 'partial', counts: { deadLettered: 2, written: 2 } });
  });

  it('takes a lock with --exclusive: a second run while the first holds it exits 75 and touches nothing', async () => {
    const s = scenario();
    await s.cli('setup');
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['l1']));
    const holder = runCli(['user', '--exclusive', '--idle-ms', '5000'], { env: s.env, cwd: s.work.dir });
    // No fixed sleep: wait until the holder's lock is in the store and its message is written, then race it.
    const store = `sqlite:${path.join(s.work.dir, 'exchange.db')}`;
    const heldLocks = () => {
      const db = new Database(path.join(s.work.dir, 'exchange.db'), { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT name FROM locks WHERE lock_until > ?').all(Date.now()) as Array<{ name: string }>;
      } finally {
        db.close();
      }
    };
    await waitFor('the first run to hold its lock and write l1', async () => {
      try {
        return heldLocks().length === 1 && (await storeCounts(store)).records === 1;
      } catch {
        return false; // the store is still being created by the first run
      }
    }, 15_000);
    expect(heldLocks().map((lock) => lock.name)).toEqual([`drain:${s.exchange}`]);
    const second = await s.cli('user', '--exclusive', '--json');
    expect(second.code).toBe(75);
    expect(second.stderr).toContain(`drain:${s.exchange}`);
    const first = await holder;
    expect(first.code).toBe(0);
    // Released at the end of the run, not left to expire.
    expect(heldLocks()).toEqual([]);
    expect((await s.cli('user', '--exclusive')).code).toBe(0);
  });
});
