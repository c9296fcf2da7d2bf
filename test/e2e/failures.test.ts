import net from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/**
 * A PostgreSQL record store whose `records` table refuses some ids through a trigger: a real,
 * server-side failure, permanent (22023) or temporary (55P03, lock not available), one item at a time.
 */
async function refusingStore() {
  const schema = await createPgSchema();
  const tenant = uniqueName('t');
  const work = tempWorkdir({ amqp: { retryDelayMs: 200, maxAttempts: 3 }, drain: { idleMs: 1500 } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
  cleanups.push(async () => { await broker.deleteTenant(tenant); await schema.drop(); work.remove(); });
  expect((await cli('setup')).code).toBe(0);
  const client = new pg.Client(schema.url);
  await client.connect();
  await client.query(`CREATE FUNCTION refuse_some() RETURNS trigger AS $$ BEGIN
      IF NEW.id LIKE 'poison-%' THEN RAISE EXCEPTION 'refused for good by the test trigger' USING ERRCODE = '22023'; END IF;
      IF NEW.id LIKE 'flaky-%' THEN RAISE EXCEPTION 'refused for now by the test trigger' USING ERRCODE = '55P03'; END IF;
      RETURN NEW; END $$ LANGUAGE plpgsql`);
  await client.query('CREATE TRIGGER refuse_some BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION refuse_some()');
  cleanups.push(async () => { await client.end(); });
  return { tenant, cli, client, queue: `${tenant}.user.records`, exchange: `${tenant}.user` };
}

describe('failure routing (DESIGN §5) with a real refusing record store', () => {
  it('isolates a permanently refused item: it alone goes to .dlq, its batch is written', async () => {
    const s = await refusingStore();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['good-1', 'poison-1', 'good-2']));
    const result = await s.cli('user', '--json');
    expect(result.code).toBe(1);
    expect(result.summary).toMatchObject({ read: 3, written: 2, deadLettered: 1, retried: 0 });
    const [parked] = await broker.takeAll(`${s.queue}.dlq`);
    expect(parked.properties.headers!['exchange-error-code']).toBe('RECORD_STORE_22023');
    expect(parked.properties.headers!['exchange-error']).toContain('refused for good');
    expect(JSON.parse(parked.content.toString()).id).toBe('poison-1');
  });

  it('retries a temporary failure through .retry with exchange-attempts + 1, and stops at maxAttempts in .dlq: never an endless loop', async () => {
    const s = await refusingStore();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['flaky-1', 'good-1']));
    // The message comes back from .retry (200 ms) and fails again until maxAttempts = 3. Whether a round trip
    // fits one run's idle window is the broker's timing, not the promise: runs are repeated until the message
    // is parked (with a deadline), and their counts add up to exactly one path through the attempts.
    const totals = { read: 0, written: 0, retried: 0, deadLettered: 0 };
    const exitCodes: Array<number | null> = [];
    await waitFor('the flaky message to be parked in .dlq', async () => {
      const run = await s.cli('user', '--json');
      exitCodes.push(run.code);
      for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += run.summary![key] as number;
      return (await broker.depth(`${s.queue}.dlq`)) === 1;
    }, 60_000, 0);
    expect(totals).toEqual({ read: 4, written: 1, retried: 2, deadLettered: 1 });
    expect(exitCodes[0]).toBe(1);
    expect(exitCodes.every((code) => code === 0 || code === 1)).toBe(true);
    await broker.waitForDepth(`${s.queue}.dlq`, 1);
    expect(await broker.depth(`${s.queue}.retry`)).toBe(0);
    expect(await broker.depth(s.queue)).toBe(0);
    // The parked message stays parked: later runs find nothing and exit 0.
    const later = await s.cli('user', '--json', '--idle-ms', '600');
    expect(later.summary).toMatchObject({ read: 0, exitCode: 0 });
    const [parked] = await broker.peekAll(`${s.queue}.dlq`);
    expect(parked.properties.headers).toMatchObject({ 'exchange-attempts': 3, 'exchange-error-code': 'RECORD_STORE_55P03', 'exchange-queue': s.queue });

    // The defect of the old system: messages back from the dead-letter queue were never processed.
    // Here a replayed message is an ordinary message again, with its attempts reset.
    await s.client.query('DROP TRIGGER refuse_some ON records');
    const replay = await s.cli('replay-dlq', 'user', '--json');
    expect(replay.code).toBe(0);
    expect(replay.summary).toMatchObject({ published: 1 });
    expect(await broker.depth(`${s.queue}.dlq`)).toBe(0);
    const [back] = await broker.peekAll(s.queue);
    expect(back.properties.headers).toMatchObject({ 'exchange-attempts': 0, 'exchange-replays': 1 });
    const drained = await s.cli('user', '--json', '--idle-ms', '600');
    expect(drained.summary).toMatchObject({ read: 1, written: 1, exitCode: 0 });
    const record = await s.cli('records', 'get', 'user', 'flaky-1', '--json');
    expect(JSON.parse(record.stdout)).toMatchObject({ id: 'flaky-1', deleted: false });
  });

  it('replay-dlq --dry-run lists without moving, --filter picks by id', async () => {
    const s = await refusingStore();
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['poison-a', 'poison-b']));
    await s.cli('user');
    await broker.waitForDepth(`${s.queue}.dlq`, 2);
    const listed = await s.cli('replay-dlq', 'user', '--dry-run', '--json');
    const deadLetters = listed.json.filter((e) => e.event === 'dead-letter');
    expect(deadLetters.map((e) => JSON.parse(String(e.body)).id).sort()).toEqual(['poison-a', 'poison-b']);
    expect(deadLetters.every((e) => e.errorCode === 'RECORD_STORE_22023' && e.attempts === 1)).toBe(true);
    await broker.waitForDepth(`${s.queue}.dlq`, 2);
    const one = await s.cli('replay-dlq', 'user', '--filter', 'id=poison-b', '--json');
    expect(one.summary).toMatchObject({ published: 1 });
    await broker.waitForDepth(`${s.queue}.dlq`, 1);
    const [left] = await broker.peekAll(`${s.queue}.dlq`);
    expect(JSON.parse(left.content.toString()).id).toBe('poison-a');
  });
});

describe('dependencies that are down, and bad configuration', () => {
  it('exits 69 within 10 s when RabbitMQ refuses, naming the URL with its password masked', async () => {
    const work = tempWorkdir();
    cleanups.push(async () => work.remove());
    const started = Date.now();
    const result = await runCli(['user'], { cwd: work.dir, env: { EXCHANGE_AMQP_URL: 'amqp://guest:s3cretpass@127.0.0.1:1' } });
    expect(result.code).toBe(69);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.stderr).toContain('amqp://guest:***@127.0.0.1:1');
    expect(result.stderr).not.toContain('s3cretpass');
  });

  it('exits 69 within 10 s when the broker accepts TCP but never speaks, never hangs', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const work = tempWorkdir({ amqp: { connectTimeoutMs: 3000 } });
    cleanups.push(async () => { silent.close(); work.remove(); });
    const started = Date.now();
    const result = await runCli(['user', '--json'], { cwd: work.dir, env: { EXCHANGE_AMQP_URL: `amqp://u:hidden@127.0.0.1:${port}` } });
    expect(result.code).toBe(69);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.json.find((e) => e.event === 'error')).toMatchObject({ code: 'AMQP_UNAVAILABLE', exitCode: 69 });
    expect(result.stdout + result.stderr).not.toContain('hidden');
  });

  it('exits 69 naming the path or host when the record store cannot be opened', async () => {
    const work = tempWorkdir();
    cleanups.push(async () => work.remove());
    const missingFolder = `${work.dir}/no-such-folder/x.db`;
    const sqlite = await runCli(['records', 'count', 'user'], { cwd: work.dir, env: { EXCHANGE_RECORD_STORE: `sqlite:${missingFolder}` } });
    expect(sqlite.code).toBe(69);
    expect(sqlite.stderr).toContain(missingFolder);
    const postgres = await runCli(['records', 'count', 'user'], { cwd: work.dir, env: { EXCHANGE_RECORD_STORE: 'postgres://app:pw1234@127.0.0.1:1/test' } });
    expect(postgres.code).toBe(69);
    expect(postgres.stderr).toContain('127.0.0.1:1/test');
    expect(postgres.stderr).not.toContain('pw1234');
  });

  it('exits 78 with one `path: message` line per problem for a wrong key or value', async () => {
    const work = tempWorkdir({ amqp: { prefetch: 0, qeueType: 'quorum' }, drain: { limit: -1 }, routes: { user: ['nowhere'] } });
    cleanups.push(async () => work.remove());
    const result = await runCli(['config'], { cwd: work.dir });
    expect(result.code).toBe(78);
    const lines = result.stderr.split('\n');
    expect(lines).toContain(`amqp.qeueType: unknown key (did you mean "queueType"?) in ${work.dir}/.exchangerc.json`);
    expect(lines.some((line) => line.startsWith('amqp.prefetch: '))).toBe(true);
    expect(lines.some((line) => line.startsWith('drain.limit: '))).toBe(true);
    expect(lines.some((line) => line.startsWith('routes.user.0: '))).toBe(true);
  });

  it('exits 64 for an unknown command or flag', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(64);
    expect((await runCli(['user', '--no-such-flag'])).code).toBe(64);
    expect((await runCli(['user', '--limit', 'many'])).code).toBe(64);
  });
});
