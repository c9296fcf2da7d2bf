import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userEnvelope } from '../support/envelopes.js';
import { routeDepths } from '../support/route-depths.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const total = 30_000;
const versionOf = (i: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 1000).toISOString();
const idOf = (i: number) => `cc-${String(i).padStart(5, '0')}`;

describe('chaos: three drains of one queue at once into PostgreSQL', () => {
  it('30,000 messages: exactly 30,000 records, each written by one run, every run exits 0, queues empty', async () => {
    const schema = await createPgSchema();
    const tenant = uniqueName('t');
    const work = tempWorkdir({ drain: { idleMs: 1500 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url };
    const queue = `${tenant}.user.records`;
    cleanups.push(async () => { await broker.deleteTenant(tenant); await schema.drop(); work.remove(); });
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 100_000 });

    expect((await cli('setup')).code).toBe(0);
    const bodies = Array.from({ length: total }, (_, i) => JSON.stringify(userEnvelope(idOf(i), { version: versionOf(i) })));
    for (let start = 0; start < total; start += 5000) await broker.publishMany(`${tenant}.user`, 'user.upsert', bodies.slice(start, start + 5000));
    await broker.waitForDepth(queue, total);

    const runs = await Promise.all([1, 2, 3].map(() => cli('user', '--json', '--batch-size', '100', '--prefetch', '200')));
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.summary).toMatchObject({ stale: 0, unchanged: 0, retried: 0, deadLettered: 0, exitCode: 0 });
      expect(run.summary!.written).toBe(run.summary!.read);
    }
    const written = runs.map((run) => run.summary!.written as number);
    console.info(`concurrent-drains: written per run ${written.join(', ')}`);
    expect(written.reduce((a, b) => a + b, 0)).toBe(total);

    const counts = await storeCounts(schema.url);
    expect(counts.records).toBe(total);
    for (let i = 0; i < total; i++) {
      if (counts.versions.get(idOf(i)) !== versionOf(i)) expect.fail(`${idOf(i)} is stored with version ${counts.versions.get(idOf(i))}, expected ${versionOf(i)}`);
    }
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'ok'], ['user', 'ok'], ['user', 'ok']]);
    expect(counts.runs.map((run) => run.counts!.written).sort()).toEqual([...written].sort());
  });
});
