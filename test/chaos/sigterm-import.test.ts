import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { writeCatalog } from '../support/catalog-file.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

/*
 * Found by this scenario and fixed: `exchange import` had no SIGTERM/SIGINT handler, so SIGTERM mid-read killed it
 * by the default action: no exit code of its own, no summary, its run-journal row 'running' forever. It now stops
 * reading, rolls the file back, closes the journal row, prints its summary and exits 75 (INTERRUPTED).
 */
let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

describe('chaos: SIGTERM mid-import ends the run cleanly', () => {
  it('exits with its own non-zero code, prints its summary and closes its journal row', async () => {
    const products = 30_000;
    const tenant = uniqueName('t');
    const work = tempWorkdir();
    const dbFile = path.join(work.dir, 'import.db');
    const storeUrl = `sqlite:${dbFile}`;
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl };
    cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
    expect((await runCli(['setup'], { env, cwd: work.dir })).code).toBe(0);
    const catalog = path.join(work.dir, 'import.xml');
    await writeCatalog(catalog, products);

    let pid = 0;
    const running = runCli(['import', 'product', catalog, '--json'], { env, cwd: work.dir, timeoutMs: 110_000, onSpawn: (p) => { pid = p; } });
    const walSize = () => { try { return fs.statSync(`${dbFile}-wal`).size; } catch { return 0; } };
    await waitFor('the import to be writing its transaction', () => walSize() > 1024 * 1024 && storeCounts(storeUrl).then((c) => c.records === 0), 60_000, 20);
    process.kill(pid, 'SIGTERM');
    const result = await running;

    expect(result.code, 'an exit code of its own, not death by the signal').not.toBe(null);
    expect([75, 130, 143]).toContain(result.code);
    expect(result.stderr).toContain('SIGTERM');
    expect(result.summary).toMatchObject({ command: 'import', written: 0, published: 0, exitCode: result.code });
    const counts = await storeCounts(storeUrl);
    expect(counts.records).toBe(0);
    expect(counts.outboxPending).toBe(0);
    expect(counts.runs).toHaveLength(1);
    expect(counts.runs[0].status).not.toBe('running');
    expect(counts.runs[0].finishedAt).not.toBe(null);
  });
});
