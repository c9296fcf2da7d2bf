import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { writeCatalog } from '../support/catalog-file.js';
import { waitFor } from '../support/chaos.js';
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

const versionOf = (i: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 1000).toISOString();
const idOf = (i: number) => `sig-${String(i).padStart(5, '0')}`;

describe('chaos: SIGTERM mid-drain (PostgreSQL store)', () => {
  it('exits 0 having written and acked exactly what it read; a rerun takes the rest: every id once, queues empty', async () => {
    const total = 20_000;
    const schema = await createPgSchema();
    const tenant = uniqueName('t');
    const work = tempWorkdir({ drain: { idleMs: 1000 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url };
    const queue = `${tenant}.user.records`;
    cleanups.push(async () => { await broker.deleteTenant(tenant); await schema.drop(); work.remove(); });
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 90_000 });

    expect((await cli('setup')).code).toBe(0);
    const bodies = Array.from({ length: total }, (_, i) => JSON.stringify(userEnvelope(idOf(i), { version: versionOf(i) })));
    for (let start = 0; start < total; start += 5000) await broker.publishMany(`${tenant}.user`, 'user.upsert', bodies.slice(start, start + 5000));
    await broker.waitForDepth(queue, total);

    const probe = new pg.Client(schema.url);
    await probe.connect();
    cleanups.push(async () => { await probe.end(); });
    const stored = async () => Number((await probe.query('SELECT COUNT(*)::int AS n FROM records')).rows[0].n);

    let pid = 0;
    const running = runCli(['user', '--batch-size', '50', '--prefetch', '200', '--json'], { env, cwd: work.dir, timeoutMs: 90_000, onSpawn: (p) => { pid = p; } });
    let ended: { code: number | null; stderr: string } | undefined;
    void running.then((r) => { ended = r; }, () => undefined);
    await waitFor('the drain to have written some records', async () => {
      if (ended) throw new Error(`the drain ended before it could be interrupted: exit ${ended.code}\n${ended.stderr}`);
      return (await stored()) >= 500;
    }, 60_000, 10);
    process.kill(pid, 'SIGTERM');
    const result = await running;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('SIGTERM received, finishing the batch in hand');
    const written = result.summary!.written as number;
    console.info(`sigterm: the drain wrote ${written} of ${total} before it stopped`);
    expect(result.summary).toMatchObject({ read: written, unchanged: 0, stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });
    expect(written).toBeLessThan(total);
    // What it read it wrote, and acked: the store holds exactly that, the queue exactly the rest.
    expect(await stored()).toBe(written);
    expect(await routeDepths(broker, queue)).toEqual({ work: total - written, retry: 0, dlq: 0 });
    expect((await storeCounts(schema.url)).runs.map((run) => [run.command, run.status, run.counts?.written])).toEqual([['user', 'ok', written]]);

    const rerun = await cli('user', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.summary).toMatchObject({ read: total - written, written: total - written, unchanged: 0, exitCode: 0 });
    const counts = await storeCounts(schema.url);
    expect(counts.records).toBe(total);
    for (let i = 0; i < total; i++) {
      if (counts.versions.get(idOf(i)) !== versionOf(i)) expect.fail(`${idOf(i)} is stored with version ${counts.versions.get(idOf(i))}, expected ${versionOf(i)}`);
    }
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
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
    console.info(`sigterm: the import ended with exit code ${result.code} (null: killed by the signal); summary ${JSON.stringify(result.summary ?? null)}; stderr: ${result.stderr.trim().slice(0, 300)}`);
    // Whatever way it ends, it must not claim success: the file was not imported.
    expect(result.code).not.toBe(0);
    expect(result.summary?.exitCode).not.toBe(0);

    const after = await storeCounts(storeUrl);
    expect(after.records).toBe(0);
    expect(after.outboxPending).toBe(0);
    expect(after.runs).toHaveLength(1);
    expect(after.runs[0]).toMatchObject({ command: 'import' });
    expect(after.runs[0].status).not.toBe('ok');
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
