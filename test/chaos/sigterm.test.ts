import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { writeCatalog } from '../support/catalog-file.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { drainScenario, expectEveryIdOnce } from '../support/drain-scenario.js';
import { tempWorkdir } from '../support/envelopes.js';
import { routeDepths } from '../support/route-depths.js';
import { amqpUrl, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

describe('chaos: SIGTERM mid-drain (PostgreSQL store)', () => {
  it('exits 0 having written and acked exactly what it read; a rerun takes the rest: every id once, queues empty', async () => {
    const total = 20_000;
    const s = await drainScenario(broker, cleanups, { prefix: 'sig', total });
    const drain = s.startDrain(['--batch-size', '50', '--prefetch', '200', '--json']);
    await drain.writing();
    process.kill(drain.pid(), 'SIGTERM');
    const result = await drain.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('SIGTERM received, finishing the batch in hand');
    const written = result.summary!.written as number;
    console.info(`sigterm: the drain wrote ${written} of ${total} before it stopped`);
    expect(result.summary).toMatchObject({ read: written, unchanged: 0, stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(written).toBeLessThan(total);
    // What it read it wrote, and acked: the store holds exactly that, the queue exactly the rest.
    expect(await s.stored()).toBe(written);
    expect(await routeDepths(broker, s.queue)).toEqual({ work: total - written, retry: 0, dlq: 0 });
    expect((await storeCounts(s.schema.url)).runs.map((run) => [run.command, run.status, run.counts?.written])).toEqual([['user', 'ok', written]]);

    const rerun = await s.cli('user', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.summary).toMatchObject({ read: total - written, written: total - written, unchanged: 0, exitCode: 0 });
    const counts = await storeCounts(s.schema.url);
    expectEveryIdOnce(counts, total, s.idOf, s.versionOf);
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, s.queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'ok'], ['user', 'ok']]);
  });
});

describe('chaos: SIGTERM mid-import (SQLite store)', () => {
  it('rolls the file\'s transaction back whole: no record, no event, nothing published; a rerun imports every product', async () => {
    const products = 30_000;
    const tenant = uniqueName('t');
    const work = tempWorkdir({ drain: { idleMs: 1000 } });
    const dbFile = path.join(work.dir, 'import.db');
    const storeUrl = `sqlite:${dbFile}`;
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl };
    const queue = `${tenant}.product.records`;
    cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 110_000 });

    expect((await cli('setup')).code).toBe(0);
    const catalog = path.join(work.dir, 'import.xml');
    expect(await writeCatalog(catalog, products)).toMatchObject({ products });

    let pid = 0;
    const running = runCli(['import', 'product', catalog, '--json', '--verbose'], { env, cwd: work.dir, timeoutMs: 110_000, onSpawn: (p) => { pid = p; } });
    // Mid-read: the import's open transaction has spilled pages into the WAL, and none of it is committed.
    const walSize = () => { try { return fs.statSync(`${dbFile}-wal`).size; } catch { return 0; } };
    let ended: { code: number | null; stderr: string } | undefined;
    void running.then((r) => { ended = r; }, () => undefined);
    await waitFor('the import to be writing its transaction', () => {
      if (ended) throw new Error(`the import ended before it could be interrupted: exit ${ended.code}\n${ended.stderr}`);
      return walSize() > 1024 * 1024 && storeCounts(storeUrl).then((c) => c.records === 0 && c.runs.length === 1);
    }, 60_000, 20);
    process.kill(pid, 'SIGTERM');
    const result = await running;
    // Found by this scenario and fixed: the import had no signal handler and died by the default action (no exit
    // code of its own, no summary, its journal row 'running' forever). It now stops, rolls back and says so.
    expect(result.code, result.stderr).toBe(75);
    expect(result.stderr).toContain('SIGTERM received');
    expect(result.summary).toMatchObject({ command: 'import', written: 0, published: 0, exitCode: 75 });

    const after = await storeCounts(storeUrl);
    expect(after.records).toBe(0);
    expect(after.outboxPending).toBe(0);
    expect(after.runs).toHaveLength(1);
    expect(after.runs[0]).toMatchObject({ command: 'import', status: 'failed' });
    expect(after.runs[0].finishedAt).not.toBe(null);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });

    const rerun = await cli('import', 'product', catalog, '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.summary).toMatchObject({ read: products, written: products, published: products, stale: 0, unchanged: 0, exitCode: 0 });
    await broker.waitForDepth(queue, products, 30_000);
    const counts = await storeCounts(storeUrl);
    expect(counts.records).toBe(products);
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: products, retry: 0, dlq: 0 });
    expect(counts.runs.map((run) => run.command)).toEqual(['import', 'import']);
    expect(counts.runs[1]).toMatchObject({ status: 'ok', counts: { read: products, written: products, published: products } });
  });
});
