import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/chaos.js';
import { runCli, type CliResult } from '../support/cli.js';
import { expectEveryIdOnce } from '../support/drain-scenario.js';
import { tempWorkdir, userEnvelope } from '../support/envelopes.js';
import { createPgSchema, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';
import { LocalCluster } from './local-cluster.js';

/**
 * Issue 11 item 6: three `exchange user` processes, each near its own node of a three-node cluster, drain one
 * quorum queue into PostgreSQL while the node that leads the queue is stopped. The process whose node goes away
 * connects again, to the next node of its amqp.urls that answers, and carries on; what it had not acked comes
 * again and is recognised by its version. Every message ends in the store exactly once, nothing is parked in the
 * dlq, and every process exits 0.
 */
const total = 20_000;
let cluster: LocalCluster | undefined;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => { cluster = await LocalCluster.start(); });
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await cluster?.stop();
});

const idOf = (i: number) => `fo-${String(i).padStart(5, '0')}`;
const versionOf = (i: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0) + i * 1000).toISOString();

/** Depth of a queue as a node that still runs sees it (the count includes unacked messages once no consumer holds them). */
async function depth(url: string, queue: string): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await connection.close();
  }
}

describe('a drain across a three-node RabbitMQ cluster', () => {
  it('loses nothing and writes nothing twice when the node leading the queue stops mid-drain', async () => {
    const nodes = cluster!;
    const schema = await createPgSchema();
    const tenant = uniqueName('t');
    const work = tempWorkdir({ amqp: { quorumInitialGroupSize: 3, connectTimeoutMs: 5000 }, drain: { idleMs: 1000 } });
    const probe = new pg.Client(schema.url);
    cleanups.push(async () => { await schema.drop(); work.remove(); });
    await probe.connect();
    cleanups.push(async () => { await probe.end(); });
    const queue = `${tenant}.user.records`;
    const cli = (urls: string[], args: string[], onSpawn?: (pid: number) => void): Promise<CliResult> => runCli(args, {
      env: { EXCHANGE_AMQP_URLS: urls.join(','), EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: schema.url },
      cwd: work.dir,
      timeoutMs: 180_000,
      onSpawn,
    });

    const setup = await cli(nodes.urlsFrom(0), ['setup']);
    expect(setup.code, setup.stderr).toBe(0);

    // Publish through node 1 with confirms: every message is on a majority of the queue's replicas.
    const publisher = await amqp.connect(nodes.urls[0]);
    const channel = await publisher.createConfirmChannel();
    for (let start = 0; start < total; start += 2000) {
      for (let i = start; i < Math.min(total, start + 2000); i++) {
        channel.publish(`${tenant}.user`, 'user.upsert', Buffer.from(JSON.stringify(userEnvelope(idOf(i), { version: versionOf(i) }))), { persistent: true, contentType: 'application/json' });
      }
      await channel.waitForConfirms();
    }
    await publisher.close();
    expect(await depth(nodes.urls[0], queue)).toBe(total);

    // Each row costs 2 ms for now, so that the node is stopped while the three drains are well inside the
    // queue (at full speed they could be done before stop_app returns); dropped once the node is down.
    await probe.query(`CREATE FUNCTION slow_write() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await probe.query('CREATE TRIGGER slow_write BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION slow_write()');

    const leader = await nodes.leaderOf(queue);
    const leaderIndex = nodes.nodes.indexOf(leader);
    expect(leaderIndex, `leader ${leader}`).toBeGreaterThanOrEqual(0);

    const stored = async () => Number((await probe.query('SELECT COUNT(*)::int AS n FROM records')).rows[0].n);
    const ended: Array<CliResult | undefined> = [undefined, undefined, undefined];
    const drains = [0, 1, 2].map((index) => {
      const run = cli(nodes.urlsFrom(index), ['user', '--json']);
      void run.then((result) => { ended[index] = result; }, () => undefined);
      return run;
    });
    await waitFor('the three drains to have written 2,000 records', async () => {
      const done = ended.findIndex((result) => result !== undefined);
      if (done >= 0) throw new Error(`a drain ended before the node was stopped: exit ${ended[done]!.code}\n${ended[done]!.stderr}`);
      return (await stored()) >= 2000;
    }, 120_000, 20);
    const writtenBeforeStop = await stored();
    await nodes.stopApp(leader);
    const first = await Promise.all(drains);
    await probe.query('DROP TRIGGER slow_write ON records');

    // The failure landed mid-drain; the process on the stopped node saw it, connected to the next node and carried on.
    expect(writtenBeforeStop).toBeLessThan(total);
    expect(first[leaderIndex].stderr).toMatch(/RabbitMQ closed the channel of .*; connecting again/);
    expect(first[leaderIndex].stderr).toContain('earlier nodes of amqp.urls did not answer');
    for (const result of first) expect(result.code, result.stderr).toBe(0);

    // Nothing is left for a next run; had anything been, the cron run would take it (and the test would say so).
    const live = nodes.urls.filter((_, index) => index !== leaderIndex);
    const reruns: CliResult[] = [];
    while (await depth(live[0], queue) > 0) {
      if (reruns.length >= 10) expect.fail(`the queue still holds ${await depth(live[0], queue)} messages after 10 runs`);
      const rerun = await cli(nodes.urlsFrom(leaderIndex), ['user', '--json']);
      expect(rerun.code, rerun.stderr).toBe(0);
      reruns.push(rerun);
    }
    expect(reruns, 'runs needed after the three drains').toHaveLength(0);

    const read = (result: CliResult) => Number(result.summary?.read ?? 0);
    console.log(`failover: ${leader} (the queue's leader) stopped after ${writtenBeforeStop} of ${total} records were written; `
      + `the three drains exited ${first.map((r) => r.code).join(', ')} having read ${first.map(read).join(', ')}; ${reruns.length} rerun(s) read ${reruns.map(read).join(', ')}`);

    // Every queue of the route empty (unacked ones would count: no consumer is left), nothing dead-lettered.
    for (const name of [queue, `${queue}.retry`, `${queue}.dlq`]) expect(await depth(live[0], name), name).toBe(0);
    const summaries = [...first, ...reruns].map((result) => result.summary).filter((summary) => summary !== undefined);
    expect(summaries.reduce((sum, summary) => sum + Number(summary.deadLettered ?? 0), 0)).toBe(0);
    // Exactly the messages published, once each, with its own version.
    expectEveryIdOnce(await storeCounts(schema.url), total, idOf, versionOf);
  });
});
