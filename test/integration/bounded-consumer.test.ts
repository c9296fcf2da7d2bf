import type { ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundedConsumer } from '../../src/amqp/bounded-consumer.js';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });

async function queueWith(count: number, queueType: 'quorum' | 'classic') {
  const queue = uniqueName('bc.');
  const channel = await broker.connection.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': queueType } });
  await channel.close();
  await broker.publishMany('', queue, Array.from({ length: count }, (_, i) => String(i)));
  return queue;
}

/**
 * Consumes like the drain does: settles in batches as they "are written", stops at the limit. Returns once
 * `expected` messages have arrived (no idle timer standing in for "done"), failing after a deadline; then
 * stops (cancel-ok: nothing arrives after it), so a message delivered past the limit would be in `seen`.
 */
async function consume(queue: string, prefetch: number, limit: number, batch: number, expected: number): Promise<string[]> {
  const channel = await broker.connection.createChannel();
  const consumer = new BoundedConsumer(channel, queue, { prefetch, limit });
  const seen: string[] = [];
  let pending: ConsumeMessage[] = [];
  await consumer.start((message) => {
    seen.push(message.content.toString());
    pending.push(message);
    if (pending.length >= batch) { consumer.settle(pending); pending = []; }
    if (consumer.limitReached) void consumer.stop();
  }, () => undefined);
  await waitFor(`${expected} messages from ${queue}`, () => seen.length >= expected, 15_000, 10);
  await consumer.stop();
  consumer.settle(pending);
  await channel.close();
  return seen;
}

describe.each(['quorum', 'classic'] as const)('BoundedConsumer on a %s queue', (queueType) => {
  it('never receives more than the limit, even with a prefetch larger than the limit, and loses or reorders nothing', async () => {
    const queue = await queueWith(1000, queueType);
    const first = await consume(queue, 500, 130, 20, 130);
    expect(first).toHaveLength(130);
    expect(first).toEqual(Array.from({ length: 130 }, (_, i) => String(i)));
    expect(await broker.depth(queue)).toBe(870);
    const second = await consume(queue, 64, 300, 7, 300);
    expect(second).toEqual(Array.from({ length: 300 }, (_, i) => String(130 + i)));
    const rest = await consume(queue, 100, 0, 33, 570);
    // Every message of every run, in the order published: nothing lost, duplicated or reordered.
    expect(rest).toEqual(Array.from({ length: 570 }, (_, i) => String(430 + i)));
    expect([...first, ...second, ...rest]).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
    expect(await broker.depth(queue)).toBe(0);
    const channel = await broker.connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.close();
  });
});
