import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

/**
 * Issue 10: `amqp.retryDelayMs` changed after `setup` made every drain exit 78 (a queue's x-message-ttl cannot
 * change). The delay now rides on each retried message (its expiration), so it changes with the config.
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/** A PostgreSQL store whose trigger refuses `flaky-*` ids for now (55P03): every drain retries them. */
async function flakyStore(retryDelayMs: number) {
  const schema = await createPgSchema();
  const tenant = uniqueName('t');
  const work = tempWorkdir({ amqp: { retryDelayMs, maxAttempts: 5 } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url };
  cleanups.push(async () => { await broker.deleteTenant(tenant); await schema.drop(); work.remove(); });
  const client = new pg.Client(schema.url);
  await client.connect();
  cleanups.push(async () => { await client.end(); });
  const queue = `${tenant}.user.records`;
  return {
    tenant, queue, exchange: `${tenant}.user`,
    cli: (...args: string[]) => runCli(args, { env, cwd: work.dir }),
    setDelay: (ms: number) => fs.writeFileSync(path.join(work.dir, '.exchangerc.json'), JSON.stringify({ amqp: { retryDelayMs: ms, maxAttempts: 5 } })),
    refuseFlaky: async () => {
      await client.query(`CREATE FUNCTION refuse_flaky() RETURNS trigger AS $$ BEGIN
          IF NEW.id LIKE 'flaky-%' THEN RAISE EXCEPTION 'refused for now by the test trigger' USING ERRCODE = '55P03'; END IF;
          RETURN NEW; END $$ LANGUAGE plpgsql`);
      await client.query('CREATE TRIGGER refuse_flaky BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION refuse_flaky()');
    },
  };
}

/** Drains one message, which fails for now, and times its way back from .retry into the work queue. */
async function retryOnce(s: Awaited<ReturnType<typeof flakyStore>>, attempts: number) {
  const started = Date.now();
  const run = await s.cli('user', '--limit', '1', '--json');
  expect(run.code, run.stderr).toBe(1);
  expect(run.summary).toMatchObject({ read: 1, written: 0, retried: 1, deadLettered: 0 });
  await broker.waitForDepth(s.queue, 1);
  const backAfterMs = Date.now() - started;
  const [back] = await broker.peekAll(s.queue);
  expect(back.properties.headers!['exchange-attempts']).toBe(attempts);
  const death = (back.properties.headers!['x-death'] as unknown as Array<Record<string, unknown>>)[0];
  return { backAfterMs, expiration: death['original-expiration'], deathReason: death.reason };
}

describe('amqp.retryDelayMs can change after setup', () => {
  it('a drain after the change does not exit 78, and the message comes back after the new delay', async () => {
    const s = await flakyStore(200);
    expect((await s.cli('setup')).code).toBe(0);
    await s.refuseFlaky();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['flaky-1']));

    const first = await retryOnce(s, 1);
    expect(first).toMatchObject({ expiration: '200', deathReason: 'expired' });
    expect(first.backAfterMs).toBeGreaterThanOrEqual(200);

    s.setDelay(1500);
    const second = await retryOnce(s, 2);
    expect(second).toMatchObject({ expiration: '1500', deathReason: 'expired' });
    // Published after the run started, it cannot be back earlier than the new delay.
    expect(second.backAfterMs).toBeGreaterThanOrEqual(1500);
    expect((await s.cli('setup', '--check')).code).toBe(0);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
  }, 60_000);

  it('keeps a .retry queue an earlier setup declared with x-message-ttl: setup, --check and the drain accept it', async () => {
    const s = await flakyStore(400);
    // The .retry queue as the earlier setup declared it: the delay as the queue's x-message-ttl.
    const channel = await broker.connection.createChannel();
    await channel.assertQueue(`${s.queue}.retry`, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish',
        'x-message-ttl': 200, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s.queue,
      },
    });
    await channel.close();
    const setup = await s.cli('setup');
    expect(setup.code, setup.stderr).toBe(0);
    const check = await s.cli('setup', '--check');
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(`queue ${s.queue}.retry: ok (x-message-ttl 200 from an earlier setup`);
    await s.refuseFlaky();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['flaky-1']));
    // The broker applies the lower of the queue's TTL and the message's expiration.
    const back = await retryOnce(s, 1);
    expect(back.expiration).toBe('400');
    expect(back.backAfterMs).toBeGreaterThanOrEqual(200);
    // A queue that differs in anything else is still a mismatch.
    const other = await broker.connection.createChannel();
    await other.deleteQueue(`${s.queue}.retry`);
    await other.assertQueue(`${s.queue}.retry`, { durable: true, arguments: { 'x-queue-type': 'classic', 'x-message-ttl': 200 } });
    await other.close();
    const differs = await s.cli('setup', '--check');
    expect(differs.code).toBe(78);
    expect(differs.stdout).toMatch(new RegExp(`queue ${s.queue}\\.retry: differs: inequivalent arg`));
  }, 60_000);
});
