import pg from 'pg';
import { expect } from 'vitest';
import type { TestBroker } from './broker.js';
import { waitFor } from './chaos.js';
import { runCli, type CliResult } from './cli.js';
import { tempWorkdir, userEnvelope } from './envelopes.js';
import { amqpUrl, createPgSchema, uniqueName } from './services.js';
import type { StoreCounts } from './store-counts.js';

export interface DrainScenarioOptions {
  /** Prefix of the message ids: `<prefix>-00042`. */
  prefix: string;
  total: number;
  idleMs?: number;
  /** Name the drain's PostgreSQL connections, so a probe can find (or terminate) exactly them. */
  namedConnections?: boolean;
}

/**
 * The chaos suite's common ground: a tenant with its user route declared, a fresh PostgreSQL schema, `total`
 * user messages each with its own id and version (so "written once, the right version" is checkable per id),
 * a probe on the store, and a drain started in the background that the scenario can kill or interrupt.
 */
export async function drainScenario(broker: TestBroker, cleanups: Array<() => Promise<void>>, options: DrainScenarioOptions) {
  const schema = await createPgSchema();
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: options.idleMs ?? 1000 } });
  const appName = uniqueName(`${options.prefix.replace(/\W/g, '_')}_`);
  const storeUrl = options.namedConnections ? `${schema.url}&application_name=${appName}` : schema.url;
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl };
  const queue = `${tenant}.user.records`;
  const probe = new pg.Client(schema.url);
  cleanups.push(async () => { await probe.end().catch(() => undefined); await broker.deleteTenant(tenant); await schema.drop(); work.remove(); });
  await probe.connect();
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 100_000 });

  const versionOf = (i: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 1000).toISOString();
  const idOf = (i: number) => `${options.prefix}-${String(i).padStart(5, '0')}`;

  expect((await cli('setup')).code).toBe(0);
  const bodies = Array.from({ length: options.total }, (_, i) => JSON.stringify(userEnvelope(idOf(i), { version: versionOf(i) })));
  for (let start = 0; start < options.total; start += 5000) await broker.publishMany(`${tenant}.user`, 'user.upsert', bodies.slice(start, start + 5000));
  await broker.waitForDepth(queue, options.total);

  const stored = async () => Number((await probe.query('SELECT COUNT(*)::int AS n FROM records')).rows[0].n);
  const backends = async () => Number((await probe.query('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName])).rows[0].n);

  /** Starts a drain in the background; `writing()` resolves once it has stored `atLeast` records. */
  function startDrain(args: string[]) {
    let pid = 0;
    let ended: CliResult | undefined;
    const result = runCli(['user', ...args], { env, cwd: work.dir, timeoutMs: 100_000, onSpawn: (p) => { pid = p; } });
    void result.then((r) => { ended = r; }, () => undefined);
    return {
      result,
      pid: () => pid,
      writing: (atLeast = 500) => waitFor('the drain to have written some records', async () => {
        if (ended) throw new Error(`the drain ended before it could be interrupted: exit ${ended.code}\n${ended.stderr}`);
        return (await stored()) >= atLeast;
      }, 60_000, 10),
    };
  }

  return { schema, tenant, work, env, queue, appName, probe, cli, idOf, versionOf, stored, backends, startDrain };
}

/** Every id of a scenario stored exactly once, with its own version, and nothing else in the store. */
export function expectEveryIdOnce(counts: StoreCounts, total: number, idOf: (i: number) => string, versionOf: (i: number) => string): void {
  expect(counts.records).toBe(total);
  for (let i = 0; i < total; i++) {
    if (counts.versions.get(idOf(i)) !== versionOf(i)) expect.fail(`${idOf(i)} is stored with version ${counts.versions.get(idOf(i))}, expected ${versionOf(i)}`);
  }
}
