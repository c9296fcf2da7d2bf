import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { drainScenario, expectEveryIdOnce } from '../support/drain-scenario.js';
import { routeDepths } from '../support/route-depths.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const total = 20_000;

describe('chaos: kill -9 of a drain mid-batch (PostgreSQL store)', () => {
  it('loses nothing and writes nothing twice: after a rerun every id is stored once with its version, every queue empty', async () => {
    // Named connections: the probe below can tell when the killed drain's backends are gone.
    const s = await drainScenario(broker, cleanups, { prefix: 'kill', total, namedConnections: true });
    const drain = s.startDrain(['--batch-size', '50', '--prefetch', '200']);
    // Kill it while it is writing: the store holds some records, not all.
    await drain.writing();
    // pg takes application_name from the URL: the drain's connections carry it (else the wait below proves nothing).
    expect(await s.backends()).toBeGreaterThan(0);
    process.kill(drain.pid(), 'SIGKILL');
    expect((await drain.result).code).toBe(null);
    // The server rolls back what the dead client left open once it notices the closed socket: count after that.
    await waitFor('the killed drain\'s backends to end', async () => (await s.backends()) === 0, 20_000, 50);
    const afterKill = await s.stored();
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(total);
    console.info(`kill-drain: ${afterKill} records stored when the killed drain's transactions were gone`);

    const rerun = await s.cli('user', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = rerun.summary!;
    // Messages written before the kill but not acked come back: recognised as unchanged, never rewritten.
    expect((summary.written as number) + (summary.unchanged as number)).toBe(summary.read);
    expect(summary.written).toBe(total - afterKill);
    expect(summary).toMatchObject({ stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });

    const counts = await storeCounts(s.schema.url);
    expectEveryIdOnce(counts, total, s.idOf, s.versionOf);
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, s.queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    // The run journal: the killed run never closed its row (nothing can, after SIGKILL); the rerun closed its own.
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'running'], ['user', 'ok']]);
    expect(counts.runs[0].finishedAt).toBe(null);
    expect(counts.runs[1].counts).toMatchObject({ read: summary.read, written: total - afterKill, exitCode: 0 });
  });
});
