import type { ChannelModel, GetMessage, Options } from 'amqplib';
import { entityTypes } from '../../src/messages/entity-types.js';
import { connectBroker } from './services.js';

/**
 * A test's own view of the broker: publish raw bytes, count and read queues, and delete
 * everything a tenant-prefixed test declared.
 */
export class TestBroker {
  private constructor(readonly connection: ChannelModel) {}

  static async open(): Promise<TestBroker> {
    return new TestBroker(await connectBroker());
  }

  async publish(exchange: string, routingKey: string, body: string | Buffer, options: Options.Publish = {}): Promise<void> {
    const channel = await this.connection.createConfirmChannel();
    channel.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), { persistent: true, contentType: 'application/json', ...options });
    await channel.waitForConfirms();
    await channel.close();
  }

  async publishMany(exchange: string, routingKey: string, bodies: string[]): Promise<void> {
    const channel = await this.connection.createConfirmChannel();
    for (const body of bodies) channel.publish(exchange, routingKey, Buffer.from(body), { persistent: true, contentType: 'application/json' });
    await channel.waitForConfirms();
    await channel.close();
  }

  async depth(queue: string): Promise<number> {
    const channel = await this.connection.createChannel();
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Waits until a queue holds `count` messages (a retry TTL or a dead-lettering takes a moment). */
  async waitForDepth(queue: string, count: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    while (Date.now() < deadline) {
      last = await this.depth(queue);
      if (last === count) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`queue ${queue} holds ${last} messages, expected ${count}`);
  }

  /** Takes every message of a queue (acked: they leave it). */
  async takeAll(queue: string): Promise<GetMessage[]> {
    const channel = await this.connection.createChannel();
    const messages: GetMessage[] = [];
    try {
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (!message) return messages;
        messages.push(message);
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Reads every message of a queue without taking it (they go back when the channel closes). */
  async peekAll(queue: string): Promise<GetMessage[]> {
    const channel = await this.connection.createChannel();
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      messages.push(message);
    }
    await channel.close().catch(() => undefined);
    return messages;
  }

  async deleteTenant(tenant: string, sinks: string[] = ['records']): Promise<void> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined);
    for (const type of entityTypes) {
      for (const sink of sinks) {
        for (const suffix of ['', '.retry', '.dlq']) await channel.deleteQueue(`${tenant}.${type}.${sink}${suffix}`).catch(() => undefined);
      }
      await channel.deleteExchange(`${tenant}.${type}`).catch(() => undefined);
    }
    await channel.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}
