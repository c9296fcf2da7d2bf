import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 7, defect 6: change events committed while the broker could not take them go out on their own
 * (`exchange publish --outbox`), not only with the next import, and `status` tells how long they have waited.
 */
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
/** Counted in the file: 36 Товар elements. */
const products = 36;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

describe('exchange publish --outbox', () => {
  it('publishes what an outage left pending, and status shows its age until then', async () => {
    const tenant = uniqueName('t');
    const work = tempWorkdir();
    cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
    const cli = (...args: string[]) => runCli(args, { env: { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant }, cwd: work.dir });
    const queue = `${tenant}.product.records`;
    expect((await cli('setup')).code).toBe(0);

    const empty = await cli('publish', '--outbox', '--json');
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.summary).toMatchObject({ published: 0, exitCode: 0 });
    expect(((await cli('status', '--json')).json[0])).toMatchObject({ pendingOutbox: 0, oldestPendingOutboxAt: null, oldestPendingOutboxAgeSeconds: null });

    // The broker returns every event (no binding): they stay pending.
    const channel = await broker.connection.createChannel();
    await channel.unbindQueue(queue, `${tenant}.product`, '#');
    const importing = await cli('import', 'product', catalog, '--json');
    expect(importing.code).toBe(69);
    const waiting = (await cli('status', '--json')).json[0] as { pendingOutbox: number; oldestPendingOutboxAt: string; oldestPendingOutboxAgeSeconds: number };
    expect(waiting.pendingOutbox).toBe(products);
    expect(Date.parse(waiting.oldestPendingOutboxAt)).toBeLessThanOrEqual(Date.now());
    expect(waiting.oldestPendingOutboxAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(waiting.oldestPendingOutboxAgeSeconds).toBeLessThan(120);
    expect((await cli('status')).stdout).toContain(`outbox: ${products} pending, the oldest since ${waiting.oldestPendingOutboxAt}`);

    const stillReturned = await cli('publish', '--outbox', '--json');
    expect(stillReturned.code).toBe(69);
    expect(((await cli('status', '--json')).json[0] as { pendingOutbox: number }).pendingOutbox).toBe(products);

    await channel.bindQueue(queue, `${tenant}.product`, '#');
    await channel.close();
    const dry = await cli('publish', '--outbox', '--dry-run', '--json');
    expect(dry.summary).toMatchObject({ read: products, published: 0 });
    const published = await cli('publish', '--outbox', '--json');
    expect(published.code, published.stderr).toBe(0);
    expect(published.summary).toMatchObject({ published: products, exitCode: 0 });
    await broker.waitForDepth(queue, products);
    expect(((await cli('status', '--json')).json[0])).toMatchObject({ pendingOutbox: 0, oldestPendingOutboxAt: null });
    expect((await cli('runs', '--json')).json.some((run) => run.command === 'publish --outbox' && run.status === 'ok')).toBe(true);
  });

  it('refuses files with --outbox, and no files without it: exit 64', async () => {
    const work = tempWorkdir();
    cleanups.push(async () => work.remove());
    const cli = (...args: string[]) => runCli(args, { env: { EXCHANGE_AMQP_URL: amqpUrl }, cwd: work.dir });
    expect((await cli('publish', '--outbox', 'user', catalog)).code).toBe(64);
    expect((await cli('publish', 'user')).code).toBe(64);
  });
});
