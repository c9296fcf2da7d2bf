import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { waitFor } from '../support/chaos.js';
import { amqpUrl, createPgSchema, managementUrl, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

/** A queue as the broker reports it through the management API (the plugin `npm test` enables). */
async function queueOnBroker(name: string): Promise<{ durable: boolean; arguments: Record<string, unknown> }> {
  const url = new URL(managementUrl);
  const response = await fetch(`${url.origin}/api/queues/%2F/${encodeURIComponent(name)}`, {
    headers: { authorization: `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` },
  });
  if (!response.ok) throw new Error(`management API: ${response.status} for queue ${name}`);
  const queue = (await response.json()) as { durable: boolean; arguments: Record<string, unknown> };
  return { durable: queue.durable, arguments: queue.arguments };
}

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function scenario(config: Record<string, unknown> = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 400 }, ...config });
  const env: NodeJS.ProcessEnv = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, env, cli: (...args: string[]) => runCli(args, { env, cwd: work.dir }), queue: `${tenant}.user.records`, exchange: `${tenant}.user` };
}

describe('exchange setup', () => {
  it('declares every route (quorum work queue, .retry dead-lettering back to it, .dlq) with the tenant prefix, as the broker reports them; idempotent; --check verifies', async () => {
    const s = scenario({ amqp: { retryDelayMs: 1234 } });
    const before = await s.cli('setup', '--check');
    expect(before.code).toBe(78);
    expect(before.stderr).toContain(`exchange ${s.tenant}.user: missing`);
    expect(before.stderr).toContain(`queue ${s.tenant}.product.records.dlq: missing`);
    const first = await s.cli('setup', '--json');
    expect(first.code, first.stderr).toBe(0);
    const actions = first.json[0].actions as string[];
    expect(actions).toContain(`queue ${s.tenant}.mutualsettlements.records.retry`);
    expect(actions).toContain(`binding ${s.tenant}.user -[#]-> ${s.tenant}.user.records`);
    expect((await s.cli('setup')).code).toBe(0);
    expect((await s.cli('setup', '--check')).code).toBe(0);
    // The arguments as the broker holds them (management API), for every queue of every type's route.
    for (const type of ['user', 'product', 'mutualsettlements', 'rate', 'edi-event']) {
      const work = `${s.tenant}.${type}.records`;
      const safe = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };
      expect(await queueOnBroker(work)).toEqual({ durable: true, arguments: { 'x-queue-type': 'quorum', ...safe, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${work}.dlq` } });
      // The retry delay is each message's expiration (README "Topology"): the queue itself has no x-message-ttl.
      expect(await queueOnBroker(`${work}.retry`)).toEqual({ durable: true, arguments: { 'x-queue-type': 'quorum', ...safe, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work } });
      expect(await queueOnBroker(`${work}.dlq`)).toEqual({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
    }
    // The binding routes every op of the type into the work queue.
    await broker.publish(s.exchange, 'user.delete', JSON.stringify({ type: 'user', op: 'delete', id: 'z', version: '1', source: 't' }));
    await broker.waitForDepth(s.queue, 1);
  });

  it('names a queue that exists with other arguments: setup and --check exit 78', async () => {
    const s = scenario();
    const channel = await broker.connection.createChannel();
    await channel.assertQueue(`${s.tenant}.user.records`, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await channel.close();
    const check = await s.cli('setup', '--check');
    expect(check.code).toBe(78);
    expect(check.stderr).toMatch(new RegExp(`queue ${s.tenant}\\.user\\.records: inequivalent arg`));
    const declare = await s.cli('setup');
    expect(declare.code).toBe(78);
    expect(declare.stderr).toContain(`queue ${s.tenant}.user.records exists with other settings`);
  });

  it('declares classic queues when amqp.queueType is classic', async () => {
    const s = scenario({ amqp: { queueType: 'classic' } });
    expect((await s.cli('setup')).code).toBe(0);
    expect((await s.cli('setup', '--check')).code).toBe(0);
    // Classic queues get no quorum-only arguments (the broker would refuse them).
    expect(await queueOnBroker(s.queue)).toEqual({ durable: true, arguments: { 'x-queue-type': 'classic', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${s.queue}.dlq` } });
    expect(await queueOnBroker(`${s.queue}.retry`)).toEqual({ durable: true, arguments: { 'x-queue-type': 'classic', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': s.queue } });
    expect(await queueOnBroker(`${s.queue}.dlq`)).toEqual({ durable: true, arguments: { 'x-queue-type': 'classic' } });
  });
});

describe('shutdown and the shared store', () => {
  it('on SIGTERM finishes the batch in hand, acks it and exits cleanly: nothing lost, nothing left unacked', async () => {
    const s = scenario();
    await s.cli('setup');
    const total = 3000;
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(Array.from({ length: total }, (_, i) => `sig-${i}`)));
    let pid = 0;
    const running = runCli(['user', '--batch-size', '50', '--prefetch', '100', '--json', '--verbose'], { env: s.env, cwd: s.work.dir, onSpawn: (p) => { pid = p; } });
    // Wait until it is busy (a deadline, not a poll that gives up and signals anyway), then ask it to stop.
    await waitFor('the drain to take its first messages', async () => (await broker.depth(s.queue)) <= total - 400, 20_000, 20);
    process.kill(pid, 'SIGTERM');
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('SIGTERM received');
    const written = result.summary!.written as number;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(total);
    expect(result.summary!.read).toBe(written);
    const left = await broker.depth(s.queue);
    expect(left + written).toBe(total);
    expect((await s.cli('records', 'count', 'user')).stdout.trim()).toBe(String(written));
    // The rest is drained by the next run.
    const next = await s.cli('user', '--json');
    expect(next.summary).toMatchObject({ read: left, written: left });
  });

  it('loses nothing when killed mid-run (SIGKILL): what was not acked is redelivered and written once', async () => {
    const s = scenario();
    await s.cli('setup');
    const total = 3000;
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(Array.from({ length: total }, (_, i) => `kill-${i}`)));
    let pid = 0;
    const running = runCli(['user', '--batch-size', '50', '--prefetch', '100'], { env: s.env, cwd: s.work.dir, onSpawn: (p) => { pid = p; } });
    const store = `sqlite:${s.work.dir}/exchange.db`;
    // Killed once it has written some records (read from the store, not from the process).
    await waitFor('the drain to write its first records', async () => (await storeCounts(store).catch(() => ({ records: 0 }))).records >= 200, 20_000, 20);
    process.kill(pid, 'SIGKILL');
    expect((await running).code).toBe(null);
    // The broker requeues what the dead consumer held once it sees the connection gone.
    await waitFor('the killed consumer to leave the queue', async () => {
      const channel = await broker.connection.createChannel();
      try { return (await channel.checkQueue(s.queue)).consumerCount === 0; } finally { await channel.close().catch(() => undefined); }
    }, 20_000);
    const stored = (await storeCounts(store)).records;
    const queued = await broker.depth(s.queue);
    const acked = total - queued;
    // Written but not acked when killed: these come back and must be found unchanged, not written again.
    expect(stored).toBeGreaterThanOrEqual(acked);
    expect(stored).toBeLessThan(total);
    const next = await s.cli('user', '--json');
    expect(next.code).toBe(0);
    expect(next.summary).toMatchObject({ read: queued, written: total - stored, unchanged: stored - acked, stale: 0 });
    expect(await broker.depth(s.queue)).toBe(0);
    // Every published id is stored exactly once, and nothing else is.
    const after = await storeCounts(store);
    expect(after.records).toBe(total);
    expect([...after.versions.keys()].sort()).toEqual(Array.from({ length: total }, (_, i) => `kill-${i}`).sort());
  });

  it('drains into PostgreSQL as into SQLite; two competing consumers share a queue without duplicates or loss', async () => {
    const schema = await createPgSchema();
    const s = scenario();
    s.env.EXCHANGE_RECORD_STORE = schema.url;
    cleanups.push(schema.drop);
    await s.cli('setup');
    const total = 2000;
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(Array.from({ length: total }, (_, i) => `pg-${i}`)));
    const [a, b] = await Promise.all([s.cli('user', '--json', '--prefetch', '50', '--batch-size', '25'), s.cli('user', '--json', '--prefetch', '50', '--batch-size', '25')]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect((a.summary!.read as number) + (b.summary!.read as number)).toBe(total);
    expect((a.summary!.written as number) + (b.summary!.written as number)).toBe(total);
    expect((await s.cli('records', 'count', 'user')).stdout.trim()).toBe(String(total));
    const runs = await s.cli('runs', '--json', '--limit', '5');
    expect(runs.json.filter((run) => run.command === 'user')).toHaveLength(2);
  });
});

describe('exchange status', () => {
  it('shows ready, unacked (from the management API), consumers, retry and dlq per queue, and the pending outbox', async () => {
    const s = scenario({ amqp: { managementUrl } });
    await s.cli('setup');
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['s1', 's2', 's3', 's4', 's5']));
    // A consumer that holds three messages without acking them.
    const channel = await broker.connection.createChannel();
    await channel.prefetch(3);
    await channel.consume(s.queue, () => undefined, { noAck: false });
    // The management API's statistics are refreshed every few seconds: asked until they show the three, with a deadline.
    let queue: Record<string, unknown> | undefined;
    await waitFor('the management API to count 3 unacked', async () => {
      const result = await s.cli('status', '--json');
      expect(result.code, result.stderr).toBe(0);
      queue = (result.json[0].queues as Array<Record<string, unknown>>).find((q) => q.queue === s.queue);
      return queue?.unacked === 3;
    }, 30_000, 500);
    expect(queue).toMatchObject({ queue: s.queue, ready: 2, unacked: 3, consumers: 1, retry: 0, dlq: 0 });
    await channel.close();
    const table = await s.cli('status');
    expect(table.stdout).toMatch(/unacked/);
    expect(table.stdout).not.toContain('guest:guest');
  });

  it('still answers without the management API, leaving unacked unknown and saying why', async () => {
    const s = scenario({ amqp: { managementUrl: 'http://guest:secretpw@127.0.0.1:1' } });
    await s.cli('setup');
    const result = await s.cli('status', '--json');
    expect(result.code).toBe(0);
    expect((result.json[0].queues as Array<Record<string, unknown>>)[0]).toMatchObject({ ready: 0, unacked: null });
    expect(result.stderr).toContain('no unacked counts');
    expect(result.stderr).not.toContain('secretpw');
  });
});

describe('exchange demo', () => {
  it('declares, loads the bundled fixtures and drains them into the embedded record store', async () => {
    const s = scenario();
    const result = await s.cli('demo', '--json');
    expect(result.code, result.stderr).toBe(0);
    const drains = result.json.filter((e) => e.event === 'summary' && e.command !== 'publish');
    expect(drains.map((e) => e.command)).toEqual(['user', 'product', 'mutualsettlements']);
    for (const summary of drains) expect(summary).toMatchObject({ read: 30, written: 30, exitCode: 0 });
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('30');
  });
});
