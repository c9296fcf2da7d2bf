import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAmqp } from '../../src/amqp/connect.js';
import { ConfirmPublisher, type PublishOutcome } from '../../src/amqp/publisher.js';
import { TestBroker } from '../support/broker.js';
import { withMemoryAlarm } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 7, defect 5: a broker in a memory alarm blocks every publishing connection and confirms never
 * come. Every command that publishes must give up within amqp.confirmTimeoutMs with exit 69, ack nothing,
 * mark nothing published, and leave no message behind in the broker that it did not get confirmed.
 * All scenarios live in this one file: an alarm blocks every publisher on the machine, so they run serially.
 */
const confirmTimeoutMs = 3000;
/** Process start, reading the fixture and closing: generous, but far below "waits forever". */
const marginMs = 7000;
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
const catalogProducts = 36;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function scenario() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ amqp: { confirmTimeoutMs, retryDelayMs: 60_000 }, drain: { idleMs: 400 } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 20_000 });
  const timed = async (...args: string[]) => {
    const started = Date.now();
    const result = await cli(...args);
    return { ...result, elapsedMs: Date.now() - started };
  };
  const storeCount = (sql: string) => {
    const db = new Database(path.join(work.dir, 'exchange.db'), { readonly: true });
    try {
      return (db.prepare(sql).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  return { tenant, work, cli, timed, storeCount, queue: (type: string) => `${tenant}.${type}.records` };
}

describe('a broker in a memory alarm (connection.blocked, no confirms)', () => {
  it('import: exit 69 within the confirm timeout, records stored, every event still pending; after the alarm a run publishes them exactly once', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const blocked = await withMemoryAlarm(() => s.timed('import', 'product', catalog, '--json'));
    expect(blocked.code, blocked.stderr).toBe(69);
    expect(blocked.elapsedMs).toBeLessThan(confirmTimeoutMs + marginMs);
    expect(blocked.stderr).toContain(`${confirmTimeoutMs} ms`);
    expect(blocked.stderr).toContain('low on memory');
    expect(s.storeCount('SELECT count(*) AS n FROM records')).toBe(catalogProducts);
    expect(s.storeCount('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).toBe(catalogProducts);
    expect(await broker.depth(s.queue('product'))).toBe(0);

    const after = await s.cli('publish', '--outbox', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(after.summary).toMatchObject({ published: catalogProducts, exitCode: 0 });
    expect(s.storeCount('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).toBe(0);
    await broker.waitForDepth(s.queue('product'), catalogProducts);
    // The unconfirmed copies of the blocked run never reached the queue: no duplicates.
    const ids = (await broker.peekAll(s.queue('product'))).map((message) => JSON.parse(message.content.toString()).id as string);
    expect(new Set(ids).size).toBe(catalogProducts);
  });

  it('publish: exit 69 within the confirm timeout, nothing in the queue', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const file = path.join(s.work.dir, 'users.jsonl');
    fs.writeFileSync(file, `${userBodies(['u1', 'u2', 'u3', 'u4', 'u5']).join('\n')}\n`);
    const blocked = await withMemoryAlarm(() => s.timed('publish', 'user', file, '--json'));
    expect(blocked.code, blocked.stderr).toBe(69);
    expect(blocked.elapsedMs).toBeLessThan(confirmTimeoutMs + marginMs);
    expect(blocked.stderr).toContain(`${confirmTimeoutMs} ms`);
    expect(await broker.depth(s.queue('user'))).toBe(0);
  });

  it('drain --exclusive: a failure republish that is never confirmed acks nothing, the message stays in the work queue, the dlq stays empty, the lock is released', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    await broker.publish(`${s.tenant}.user`, 'user.upsert', '{"not": json');
    await broker.waitForDepth(s.queue('user'), 1);
    const blocked = await withMemoryAlarm(() => s.timed('user', '--exclusive', '--json'));
    expect(blocked.code, blocked.stderr).toBe(69);
    expect(blocked.elapsedMs).toBeLessThan(confirmTimeoutMs + marginMs);
    expect(blocked.stderr).toContain(`${confirmTimeoutMs} ms`);
    await broker.waitForDepth(s.queue('user'), 1);
    expect(await broker.depth(`${s.queue('user')}.dlq`)).toBe(0);
    expect(await broker.depth(`${s.queue('user')}.retry`)).toBe(0);
    // The lock was taken and given back: its renewal did not outlive the run.
    expect(s.storeCount('SELECT count(*) AS n FROM locks')).toBe(1);
    expect(s.storeCount(`SELECT count(*) AS n FROM locks WHERE lock_until > ${Date.now()}`)).toBe(0);
  });

  it('replay-dlq: exit 69 within the confirm timeout, the dead-lettered message stays in the dlq', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    await broker.publish('', `${s.queue('user')}.dlq`, userBodies(['parked'])[0]);
    const blocked = await withMemoryAlarm(() => s.timed('replay-dlq', 'user', '--json'));
    expect(blocked.code, blocked.stderr).toBe(69);
    expect(blocked.elapsedMs).toBeLessThan(confirmTimeoutMs + marginMs);
    expect(blocked.stderr).toContain(`${confirmTimeoutMs} ms`);
    await broker.waitForDepth(`${s.queue('user')}.dlq`, 1);
    expect(await broker.depth(s.queue('user'))).toBe(0);
  });

  it('ConfirmPublisher: sent publishes and those waiting in ready() for window room all fail with timeout within confirmTimeoutMs', async () => {
    const queue = uniqueName('alarm.pub.');
    const setup = await broker.connection.createChannel();
    await setup.assertQueue(queue, { durable: false, arguments: { 'x-queue-type': 'classic' } });
    await setup.close();
    cleanups.push(async () => { const channel = await broker.connection.createChannel(); await channel.deleteQueue(queue); await channel.close(); });
    const connection = await connectAmqp(amqpUrl, { timeoutMs: 5000, heartbeatSeconds: 0 });
    try {
      const publisher = await ConfirmPublisher.open(connection, { confirmTimeoutMs, window: 2 });
      const { outcomes, elapsedMs } = await withMemoryAlarm(async () => {
        const started = Date.now();
        // Two go out at once; three wait in ready() for room the broker never makes.
        const settled: PublishOutcome[] = await Promise.all(Array.from({ length: 5 }, (_, i) => publisher.publish({ exchange: '', routingKey: queue, body: Buffer.from(String(i)), options: {} })));
        return { outcomes: settled, elapsedMs: Date.now() - started };
      });
      expect(outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.reason))).toEqual(['timeout', 'timeout', 'timeout', 'timeout', 'timeout']);
      expect(elapsedMs).toBeGreaterThanOrEqual(confirmTimeoutMs - 50);
      expect(elapsedMs).toBeLessThan(confirmTimeoutMs + 2000);
      await publisher.close();
    } finally {
      await connection.close().catch(() => undefined);
    }
    // The connection was reset: what the blocked broker had not read was never enqueued.
    expect(await broker.depth(queue)).toBe(0);
  });
});
