import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
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

const total = 20_000;
/** Each message its own id and its own version, so "written once, the right one" is checkable per id. */
const versionOf = (i: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 1000).toISOString();
const idOf = (i: number) => `kill-${String(i).padStart(5, '0')}`;

describe('chaos: kill -9 of a drain mid-batch (PostgreSQL store)', () => {
  it('loses nothing and writes nothing twice: after a rerun every id is stored once with its version, every queue empty', async () => {
    const schema = await createPgSchema();
    const tenant = uniqueName('t');
    const work = tempWorkdir({ drain: { idleMs: 1000 } });
    // Its own application_name: the probe below can tell when the killed drain's backends are gone.
    const appName = uniqueName('kill_drain_');
    const storeUrl = `${schema.url}&application_name=${appName}`;
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl };
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
    const killed = runCli(['user', '--batch-size', '50', '--prefetch', '200'], { env, cwd: work.dir, timeoutMs: 90_000, onSpawn: (p) => { pid = p; } });
    // Kill it while it is writing: the store holds some records, not all.
    let atKill = 0;
    let ended: { code: number | null; stderr: string } | undefined;
    void killed.then((r) => { ended = r; }, () => undefined);
    await waitFor('the drain to have written some records', async () => {
      if (ended) throw new Error(`the drain ended before it could be killed: exit ${ended.code}\n${ended.stderr}`);
      atKill = await stored();
      return atKill >= 500;
    }, 60_000, 10);
    const backends = async () => Number((await probe.query('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName])).rows[0].n);
    // pg takes application_name from the URL: the drain's connections carry it (else the wait below proves nothing).
    expect(await backends()).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const dead = await killed;
    expect(dead.code).toBe(null);
    // The server rolls back what the dead client left open once it notices the closed socket: count after that.
    await waitFor('the killed drain\'s backends to end', async () => (await backends()) === 0, 20_000, 50);
    const afterKill = await stored();
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(total);
    console.info(`kill-drain: ${atKill} records seen before the kill, ${afterKill} after it`);

    const rerun = await cli('user', '--json');
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = rerun.summary!;
    // Messages written before the kill but not acked come back: recognised as unchanged, never rewritten.
    expect((summary.written as number) + (summary.unchanged as number)).toBe(summary.read);
    expect(summary.written).toBe(total - afterKill);
    expect(summary).toMatchObject({ stale: 0, retried: 0, deadLettered: 0, exitCode: 0 });

    const counts = await storeCounts(schema.url);
    expect(counts.records).toBe(total);
    for (let i = 0; i < total; i++) {
      if (counts.versions.get(idOf(i)) !== versionOf(i)) expect.fail(`${idOf(i)} is stored with version ${counts.versions.get(idOf(i))}, expected ${versionOf(i)}`);
    }
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    // The run journal: the killed run never closed its row (nothing can, after SIGKILL); the rerun closed its own.
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'running'], ['user', 'ok']]);
    expect(counts.runs[0].finishedAt).toBe(null);
    expect(counts.runs[1].counts).toMatchObject({ read: summary.read, written: total - afterKill, exitCode: 0 });
  });
});
