import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

/**
 * Issue 7, defect 8: a busy store is not a bad message. While another process holds SQLite's write lock, a
 * drain must not retry or dead-letter valid messages: it stops with 75, acks nothing, and the next run
 * writes them. And several processes opening a new store at once all migrate it without failing.
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

function scenario(storeUrl?: string) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 300 }, amqp: { maxAttempts: 2, retryDelayMs: 200 } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, ...(storeUrl ? { EXCHANGE_RECORD_STORE: storeUrl } : {}) };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, cli: (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 90_000 }), queue: `${tenant}.user.records` };
}

describe('defect 8: a busy store is "try later", never a reason to dead-letter', () => {
  it('a drain while another process holds the SQLite write lock exits 75 and leaves every message in its queue', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const ids = Array.from({ length: 20 }, (_, i) => `busy-${i}`);
    await broker.publishMany(`${s.tenant}.user`, 'user.upsert', userBodies(ids));
    await broker.waitForDepth(s.queue, 20);

    const holder = new Database(path.join(s.work.dir, 'exchange.db'));
    holder.exec('BEGIN IMMEDIATE');
    let drained;
    try {
      drained = await s.cli('user', '--json');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(drained.code, drained.stderr).toBe(75);
    expect(drained.stderr).toMatch(/busy/i);
    expect(await broker.depth(s.queue)).toBe(20);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);

    const again = await s.cli('user', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ read: 20, written: 20, retried: 0, deadLettered: 0 });
    expect((await s.cli('records', 'count', 'user')).stdout.trim()).toBe('20');
    expect(await broker.depth(s.queue)).toBe(0);
  });

  it.each(['sqlite', 'postgres'])('six processes opening a new %s store at once all migrate it', async (engine) => {
    let url: string | undefined;
    if (engine === 'postgres') {
      const schema = await createPgSchema();
      cleanups.push(schema.drop);
      url = schema.url;
    }
    const s = scenario(url);
    const results = await Promise.all(Array.from({ length: 6 }, () => s.cli('records', 'count', 'user')));
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe('0');
    }
  });
});
