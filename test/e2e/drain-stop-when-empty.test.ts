import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });

/** drain.idleMs far beyond what a drain of a few hundred messages takes: a run that waits it out is the defect. */
const longIdleMs = 40_000;

function scenario() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: longIdleMs } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 90_000 });
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { cli, queue: `${tenant}.user.records`, exchange: `${tenant}.user` };
}
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

async function consumers(queue: string): Promise<number> {
  const channel = await broker.connection.createChannel();
  try {
    return (await channel.checkQueue(queue)).consumerCount;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

describe('a drain stops when the queue is known to be empty (issue 11, item 2)', () => {
  it('ends once everything read is written and the queue has no ready message, without waiting drain.idleMs', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const ids = Array.from({ length: 450 }, (_, i) => `e-${String(i).padStart(4, '0')}`);
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(ids));
    await broker.waitForDepth(s.queue, 450);
    const started = Date.now();
    const result = await s.cli('user', '--json', '--batch-size', '100');
    const elapsed = Date.now() - started;
    expect(result.code, result.stderr).toBe(0);
    expect(result.summary).toMatchObject({ read: 450, written: 450, exitCode: 0 });
    expect(elapsed).toBeLessThan(longIdleMs / 2);
    expect(await broker.depth(s.queue)).toBe(0);
    expect((await s.cli('records', 'count', 'user')).stdout.trim()).toBe('450');
  }, 120_000);

  it('a run that finds the queue empty ends at once, reading nothing', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const started = Date.now();
    const result = await s.cli('user', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.summary).toMatchObject({ read: 0, written: 0, exitCode: 0 });
    expect(Date.now() - started).toBeLessThan(longIdleMs / 2);
  }, 120_000);

  it('--idle-ms waits for more: messages published after the run found the queue empty are drained by it', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const run = s.cli('user', '--json', '--idle-ms', '8000');
    // The run is consuming an empty queue; what comes now is "more".
    await waitFor('the drain to consume', async () => (await consumers(s.queue)) === 1, 30_000, 50);
    await broker.publishMany(s.exchange, 'user.upsert', userBodies(['late-1', 'late-2', 'late-3']));
    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    expect(result.summary).toMatchObject({ read: 3, written: 3, exitCode: 0 });
    expect(await broker.depth(s.queue)).toBe(0);
  }, 120_000);
});
