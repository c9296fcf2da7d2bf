import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { drainScenario, expectEveryIdOnce } from '../support/drain-scenario.js';
import { routeDepths } from '../support/route-depths.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const total = 30_000;

describe('chaos: three drains of one queue at once into PostgreSQL', () => {
  it('30,000 messages: exactly 30,000 records, each written by one run, every run exits 0, queues empty', async () => {
    const s = await drainScenario(broker, cleanups, { prefix: 'cc', total, idleMs: 1500 });
    const runs = await Promise.all([1, 2, 3].map(() => s.cli('user', '--json', '--batch-size', '100', '--prefetch', '200')));
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.summary).toMatchObject({ stale: 0, unchanged: 0, retried: 0, deadLettered: 0, exitCode: 0 });
      expect(run.summary!.written).toBe(run.summary!.read);
    }
    const written = runs.map((run) => run.summary!.written as number);
    console.info(`concurrent-drains: written per run ${written.join(', ')}`);
    expect(written.reduce((a, b) => a + b, 0)).toBe(total);

    const counts = await storeCounts(s.schema.url);
    expectEveryIdOnce(counts, total, s.idOf, s.versionOf);
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, s.queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'ok'], ['user', 'ok'], ['user', 'ok']]);
    expect(counts.runs.map((run) => run.counts!.written).sort()).toEqual([...written].sort());
  });
});
