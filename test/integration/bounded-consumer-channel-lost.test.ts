import type { ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundedConsumer } from '../../src/amqp/bounded-consumer.js';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });

/**
 * Issue 7, defect 10b: the channel dies while the consumer still holds settled messages back (the bound keeps
 * tags above limit − prefetch until cancel-ok). The final acks then fail; that must neither reject stop()
 * (the drain calls it fire-and-forget: an unhandled rejection is exit 1) nor throw from settle(). What was
 * not acked goes back to the queue.
 */
describe('BoundedConsumer when its channel is closed under it', () => {
  it('stop() and settle() neither throw nor reject, and every unacked message is back in the queue', async () => {
    const queue = uniqueName('bc.lost.');
    const setup = await broker.connection.createChannel();
    await setup.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await setup.close();
    await broker.publishMany('', queue, Array.from({ length: 100 }, (_, i) => String(i)));

    const channel = await broker.connection.createChannel();
    let closed = false;
    channel.on('error', () => undefined);
    channel.on('close', () => { closed = true; });
    const consumer = new BoundedConsumer(channel, queue, { prefetch: 50, limit: 100 });
    const received: ConsumeMessage[] = [];
    await consumer.start((message) => received.push(message), () => undefined);
    await waitFor('the first 50 deliveries', () => received.length >= 50, 10_000, 20);
    consumer.settle(received.slice(0, 50));
    await waitFor('60 deliveries', () => received.length >= 60, 10_000, 20);
    // 51–60 are held back by the bound (limit − prefetch = 50) until the consumer is cancelled.
    consumer.settle(received.slice(50, 60));

    // A channel-level error closes the channel, as a broker that goes away would.
    await channel.checkQueue(`${queue}.missing`).catch(() => undefined);
    await waitFor('the channel to close', () => closed, 10_000, 20);

    expect(() => consumer.settle(received.slice(60, 70))).not.toThrow();
    await expect(consumer.stop()).resolves.toBeUndefined();
    // Nothing above 50 was acked: 50 back in the queue (51–100).
    await broker.waitForDepth(queue, 50);
    const left = (await broker.takeAll(queue)).map((message) => Number(message.content.toString())).sort((a, b) => a - b);
    expect(left).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
    const cleanup = await broker.connection.createChannel();
    await cleanup.deleteQueue(queue);
    await cleanup.close();
  });
});
