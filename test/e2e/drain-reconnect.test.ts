import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { drainScenario, expectEveryIdOnce } from '../support/drain-scenario.js';
import { managementUrl } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

/**
 * Issue 11, item 5: a drain whose connection RabbitMQ drops (a node stopped, a restart, an operator's forced
 * close) connects again and carries on; what it had not acked comes again and is recognised by its version.
 * The broker here drops exactly the drain's connection, by the management API's "close connection" (what
 * `rabbitmqctl close_connection` does): the same channel and connection close the client sees when its node
 * goes away. The three-node version, with a node stopped, is test/cluster/failover.test.ts.
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

const management = new URL(managementUrl);
const authorization = `Basic ${Buffer.from(`${decodeURIComponent(management.username)}:${decodeURIComponent(management.password)}`).toString('base64')}`;
const api = (path: string, init: RequestInit = {}) => fetch(`${management.origin}/api${path}`, { ...init, headers: { authorization, ...init.headers } });

/** The broker's name of the drain's connection (the client names it `exchange <pid>`), once the broker lists it. */
async function connectionOf(pid: number): Promise<string> {
  let name: string | undefined;
  await waitFor(`RabbitMQ to list the connection of process ${pid}`, async () => {
    const response = await api('/connections?columns=name,client_properties');
    const connections = (await response.json()) as Array<{ name: string; client_properties?: { connection_name?: string } }>;
    name = connections.find((c) => c.client_properties?.connection_name === `exchange ${pid}`)?.name;
    return name !== undefined;
  }, 20_000, 100);
  return name!;
}

async function closeConnection(name: string): Promise<void> {
  const response = await api(`/connections/${encodeURIComponent(name)}`, { method: 'DELETE', headers: { 'x-reason': 'test: the node went away' } });
  expect(response.status, await response.text()).toBe(204);
}

describe('a drain that loses its connection (issue 11, item 5)', () => {
  it('connects again and finishes: every record once with its version, every queue empty, nothing dead-lettered', async () => {
    const total = 30_000;
    const s = await drainScenario(broker, cleanups, { prefix: 'rc', total });
    const drain = s.startDrain(['--batch-size', '20', '--prefetch', '40', '--json']);
    await drain.writing(500);
    const connection = await connectionOf(drain.pid());
    expect(await s.stored(), 'the drain is still at work when its connection is closed').toBeLessThan(total);
    await closeConnection(connection);

    const result = await drain.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/RabbitMQ closed the channel of .*; connecting again \(1 of 3\)/);
    expect(result.summary).toMatchObject({ deadLettered: 0, retried: 0, exitCode: 0 });
    // Whatever was written but not yet acked came again: unchanged, not written twice.
    expect(Number(result.summary!.written) + Number(result.summary!.unchanged)).toBe(Number(result.summary!.read));
    expect(Number(result.summary!.written)).toBe(total);
    for (const queue of [s.queue, `${s.queue}.retry`, `${s.queue}.dlq`]) expect(await broker.depth(queue), queue).toBe(0);
    expectEveryIdOnce(await storeCounts(s.schema.url), total, s.idOf, s.versionOf);
  }, 180_000);

  it('with --limit it does not: exit 69, nothing acked that was not written, and the next run finishes', async () => {
    const total = 30_000;
    const s = await drainScenario(broker, cleanups, { prefix: 'rl', total });
    const drain = s.startDrain(['--batch-size', '20', '--prefetch', '40', '--limit', String(total), '--json']);
    await drain.writing(500);
    const connection = await connectionOf(drain.pid());
    expect(await s.stored()).toBeLessThan(total);
    await closeConnection(connection);

    const first = await drain.result;
    expect(first.code, first.stderr).toBe(69);
    expect(first.stderr).not.toMatch(/connecting again/);
    const rest = await s.cli('user', '--json');
    expect(rest.code, rest.stderr).toBe(0);
    expect(await broker.depth(s.queue)).toBe(0);
    expectEveryIdOnce(await storeCounts(s.schema.url), total, s.idOf, s.versionOf);
  }, 180_000);
});
