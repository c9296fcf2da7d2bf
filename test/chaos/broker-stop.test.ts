import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { startBrokerApp, waitFor, withBrokerStopped } from '../support/chaos.js';
import { runCli, type CliResult } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

/**
 * Issue 7, chaos suite: RabbitMQ stopped (`rabbitmqctl stop_app`) in the middle of a drain. The drain must
 * stop with 69 within seconds, having acked only what it wrote; after `start_app` a rerun finishes the work:
 * every message written exactly once as a record, nothing in the retry or dead-letter queue.
 * stop_app closes every connection on the machine: run this file alone.
 */
const total = 20_000;

afterAll(async () => {
  // Whatever happened above, the broker runs again for whoever comes next.
  await startBrokerApp();
});

describe('RabbitMQ stopped mid-drain', () => {
  it('exit 69 within seconds; after start_app a rerun completes: every record once, every queue empty', async () => {
    const tenant = uniqueName('t');
    const schema = await createPgSchema();
    const work = tempWorkdir({ drain: { idleMs: 1500 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url };
    const cli = (args: string[], options: { onSpawn?: (pid: number) => void } = {}) => runCli(args, { env, cwd: work.dir, timeoutMs: 120_000, ...options });
    const queue = `${tenant}.user.records`;
    const client = new pg.Client(schema.url);
    await client.connect();
    const records = async () => Number((await client.query('SELECT count(*) AS n FROM records')).rows[0].n);
    let broker = await TestBroker.open();
    try {
      expect((await cli(['setup'])).code).toBe(0);
      const ids = Array.from({ length: total }, (_, i) => `u${String(i).padStart(5, '0')}`);
      for (let i = 0; i < total; i += 5000) await broker.publishMany(`${tenant}.user`, 'user.upsert', userBodies(ids.slice(i, i + 5000)));
      await broker.waitForDepth(queue, total);
      await broker.close();

      let exited: CliResult | undefined;
      let exitedAt = 0;
      const draining = cli(['user', '--batch-size', '50', '--json']).then((result) => { exited = result; exitedAt = Date.now(); return result; });
      await waitFor('the drain to write its first records', async () => exited !== undefined || (await records()) >= 1000, 60_000, 50);
      expect(exited, 'the drain ended before the broker was stopped').toBeUndefined();

      let stoppedAt = 0;
      const first = await withBrokerStopped(async () => {
        stoppedAt = Date.now();
        return draining;
      });
      expect(first.code, first.stderr).toBe(69);
      expect(first.stderr).toContain('RabbitMQ closed the channel');
      // stop_app itself takes a moment; the drain is gone within seconds of it.
      expect(exitedAt - stoppedAt).toBeLessThan(10_000);
      const writtenBefore = await records();
      expect(writtenBefore).toBeGreaterThan(0);
      expect(writtenBefore).toBeLessThan(total);

      broker = await TestBroker.open();
      const rerun = await cli(['user', '--json']);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.summary).toMatchObject({ retried: 0, deadLettered: 0, exitCode: 0 });
      expect(await records()).toBe(total);
      expect(Number((await client.query("SELECT count(DISTINCT id) AS n FROM records WHERE type = 'user' AND NOT deleted")).rows[0].n)).toBe(total);
      expect(await broker.depth(queue)).toBe(0);
      expect(await broker.depth(`${queue}.retry`)).toBe(0);
      expect(await broker.depth(`${queue}.dlq`)).toBe(0);
    } finally {
      await client.end();
      await broker.deleteTenant(tenant).catch(() => undefined);
      await broker.close();
      await schema.drop();
      work.remove();
    }
  });
});
