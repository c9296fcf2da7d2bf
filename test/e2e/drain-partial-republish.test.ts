import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { rabbitmqctl } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

/**
 * Issue 7, defect 10c: of one batch's failure republishes, one is confirmed and one refused. The original of
 * the confirmed copy must be acked (else it is both in the dlq and back in the work queue: a duplicate), the
 * original of the refused one must not be, and the batch's written items are acked as usual.
 * The refusal is real: a policy caps the dlq at one message with overflow=reject-publish, so the broker
 * nacks the second dead-lettering. Classic queues apply the cap exactly, message by message.
 */
describe('a drain whose failure republishes partly fail', () => {
  it('acks exactly the written items and the originals of confirmed republishes, then exits 69', async () => {
    const tenant = uniqueName('t');
    const policy = `${tenant}-dlq-cap`;
    const work = tempWorkdir({ amqp: { queueType: 'classic' }, drain: { idleMs: 600 } });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
    cleanups.push(async () => {
      await rabbitmqctl('clear_policy', policy).catch(() => undefined);
      await broker.deleteTenant(tenant);
      work.remove();
    });
    const queue = `${tenant}.user.records`;
    await rabbitmqctl('set_policy', '--apply-to', 'queues', '--priority', '100', policy, `^${tenant.replace(/[.]/g, '\\.')}\\.user\\.records\\.dlq$`, '{"max-length":1,"overflow":"reject-publish"}');
    expect((await cli('setup')).code).toBe(0);
    expect(await rabbitmqctl('list_queues', '--quiet', 'name', 'policy')).toContain(`${queue}.dlq\t${policy}`);

    const [good1, good2, good3] = userBodies(['good-1', 'good-2', 'good-3']);
    await broker.publishMany(`${tenant}.user`, 'user.upsert', [good1, '{"broken": 1', good2, 'not json at all', good3]);
    await broker.waitForDepth(queue, 5);

    const result = await cli('user', '--batch-size', '10', '--json');
    expect(result.code, result.stderr).toBe(69);
    expect(result.stderr).toContain('nack');

    const db = new Database(path.join(work.dir, 'exchange.db'), { readonly: true });
    const records = (db.prepare("SELECT count(*) AS n FROM records WHERE type = 'user'").get() as { n: number }).n;
    db.close();
    expect(records).toBe(3);
    // The first broken message is in the dlq and nowhere else; the second, refused there, is back in the work queue.
    const parked = await broker.takeAll(`${queue}.dlq`);
    expect(parked.map((message) => message.content.toString())).toEqual(['{"broken": 1']);
    await broker.waitForDepth(queue, 1);
    const back = await broker.takeAll(queue);
    expect(back.map((message) => message.content.toString())).toEqual(['not json at all']);
    expect(await broker.depth(`${queue}.retry`)).toBe(0);
  });
});
