import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAmqp } from '../../src/amqp/connect.js';
import { ExchangeError } from '../../src/errors.js';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 11 item 5 against the real broker on 5672: amqp.urls falls through a node that refuses to the next,
 * and amqp.quorumInitialGroupSize is a setting of a queue's creation that never makes a later drain exit 78.
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/** A port nothing listens on: one the kernel just gave out, closed again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const refusedUrl = (port: number) => `amqp://guest:refused-node-secret@127.0.0.1:${port}`;

describe('connectAmqp with a list of nodes', () => {
  it('uses the second node when the first refuses, and says which refused (password masked)', async () => {
    const port = await closedPort();
    const told: Array<{ connectedTo: string; refused: string[] }> = [];
    const connection = await connectAmqp([refusedUrl(port), amqpUrl], { timeoutMs: 3000, heartbeatSeconds: 0, onFallback: (connectedTo, refused) => told.push({ connectedTo, refused }) });
    try {
      const channel = await connection.createChannel();
      await channel.checkExchange('amq.topic');
      await channel.close();
    } finally {
      await connection.close();
    }
    expect(told).toEqual([{ connectedTo: amqpUrl.replace(/:guest@/, ':***@'), refused: [`amqp://guest:***@127.0.0.1:${port}: connection refused (nothing listens on 127.0.0.1:${port})`] }]);
  });

  it('connects to the first node without trying the others when it answers', async () => {
    const told: string[] = [];
    const connection = await connectAmqp([amqpUrl, refusedUrl(await closedPort())], { timeoutMs: 3000, heartbeatSeconds: 0, onFallback: (to) => told.push(to) });
    await connection.close();
    expect(told).toEqual([]);
  });

  it('is AMQP_UNAVAILABLE naming every node and its reason when none answers', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const error = await connectAmqp([refusedUrl(a), refusedUrl(b)], { timeoutMs: 3000, heartbeatSeconds: 0 }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error).toMatchObject({ code: 'AMQP_UNAVAILABLE' });
    expect((error as Error).message).toBe(`cannot connect to RabbitMQ: none of the 2 nodes of amqp.urls answered: `
      + `amqp://guest:***@127.0.0.1:${a}: connection refused (nothing listens on 127.0.0.1:${a}); amqp://guest:***@127.0.0.1:${b}: connection refused (nothing listens on 127.0.0.1:${b})`);
    expect((error as Error).message).not.toContain('refused-node-secret');
  });
});

function scenario(config: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 400 }, ...config });
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, queue: `${tenant}.user.records`, cli: (...args: string[]) => runCli(args, { env: { EXCHANGE_TENANT: tenant, ...env }, cwd: work.dir }) };
}

describe('exchange with amqp.urls', () => {
  it('sets up and drains through the second node of EXCHANGE_AMQP_URLS when the first refuses; the warning masks the password', async () => {
    const port = await closedPort();
    const s = scenario({}, { EXCHANGE_AMQP_URLS: `${refusedUrl(port)},${amqpUrl}` });
    const setup = await s.cli('setup');
    expect(setup.code, setup.stderr).toBe(0);
    await broker.publishMany(`${s.tenant}.user`, 'user.upsert', userBodies(['u1', 'u2', 'u3']));
    await broker.waitForDepth(s.queue, 3);
    const run = await s.cli('user', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.summary).toMatchObject({ read: 3, written: 3 });
    expect(await broker.depth(s.queue)).toBe(0);
    expect(run.stderr).toContain(`127.0.0.1:${port}: connection refused`);
    expect(run.stdout + run.stderr).not.toContain('refused-node-secret');
  });

  it('exits 69 naming both nodes when neither answers', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const s = scenario({ amqp: { urls: [refusedUrl(a), refusedUrl(b)], connectTimeoutMs: 2000 } }, {});
    const run = await s.cli('user');
    expect(run.code).toBe(69);
    expect(run.stderr).toContain(`127.0.0.1:${a}: connection refused`);
    expect(run.stderr).toContain(`127.0.0.1:${b}: connection refused`);
    expect(run.stderr).not.toContain('refused-node-secret');
  });
});

describe('amqp.quorumInitialGroupSize', () => {
  /** Whether the broker holds the queue with this x-quorum-initial-group-size (a declare that changes nothing). */
  async function heldWithGroupSize(queue: string, size: number | undefined, args: Record<string, unknown>): Promise<boolean> {
    const channel = await broker.connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.assertQueue(queue, { durable: true, arguments: { ...args, ...(size === undefined ? {} : { 'x-quorum-initial-group-size': size }) } });
      await channel.close();
      return true;
    } catch {
      return false;
    }
  }

  it('creates the queues with it; a later config without it or with another value still passes setup, --check and the drain (not 78)', async () => {
    const s = scenario({ amqp: { quorumInitialGroupSize: 1 } }, { EXCHANGE_AMQP_URL: amqpUrl });
    expect((await s.cli('setup')).code).toBe(0);
    const dlqArgs = { 'x-queue-type': 'quorum' };
    expect(await heldWithGroupSize(`${s.queue}.dlq`, 1, dlqArgs)).toBe(true);
    expect(await heldWithGroupSize(`${s.queue}.dlq`, undefined, dlqArgs)).toBe(false);

    for (const later of [{}, { amqp: { quorumInitialGroupSize: 3 } }]) {
      const rc = JSON.stringify({ drain: { idleMs: 400 }, ...later });
      writeFileSync(`${s.work.dir}/.exchangerc.json`, rc);
      const check = await s.cli('setup', '--check');
      expect(check.code, `${rc}\n${check.stdout}${check.stderr}`).toBe(0);
      expect(check.stdout + check.stderr).toContain('x-quorum-initial-group-size 1 since its creation');
      const setup = await s.cli('setup');
      expect(setup.code, setup.stderr).toBe(0);
      await broker.publishMany(`${s.tenant}.user`, 'user.upsert', userBodies([`g-${rc.length}`]));
      await broker.waitForDepth(s.queue, 1);
      const run = await s.cli('user', '--json');
      expect(run.code, run.stderr).toBe(0);
      expect(run.summary).toMatchObject({ read: 1, written: 1 });
    }
    // The queue kept the value of its creation.
    expect(await heldWithGroupSize(`${s.queue}.dlq`, 1, dlqArgs)).toBe(true);
  });

  it('a queue created without it is accepted by a config that sets it; another argument that differs is still 78', async () => {
    const s = scenario({}, { EXCHANGE_AMQP_URL: amqpUrl });
    expect((await s.cli('setup')).code).toBe(0);
    writeFileSync(`${s.work.dir}/.exchangerc.json`, JSON.stringify({ drain: { idleMs: 400 }, amqp: { quorumInitialGroupSize: 2 } }));
    const check = await s.cli('setup', '--check');
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout + check.stderr).toContain('x-quorum-initial-group-size unset since its creation');
    // A classic queue type differs for real: the group size must not hide that.
    writeFileSync(`${s.work.dir}/.exchangerc.json`, JSON.stringify({ amqp: { quorumInitialGroupSize: 2, queueType: 'classic' } }));
    const differs = await s.cli('setup', '--check');
    expect(differs.code).toBe(78);
    expect(differs.stderr).toMatch(/inequivalent arg 'x-queue-type'/);
  });
});
