import type { Channel, ChannelModel } from 'amqplib';
import { ExchangeError } from '../errors.js';
import { bindingPattern, queueOptions, type RouteTopology } from './topology.js';

interface QueueSpec { name: string; args: Record<string, unknown> }

function queuesOf(route: RouteTopology): QueueSpec[] {
  return [
    { name: route.queue, args: route.queueArguments },
    { name: route.retryQueue, args: route.retryArguments },
    { name: route.deadLetterQueue, args: route.deadLetterArguments },
  ];
}

/** Declares exchanges, queues and bindings; idempotent. A queue that exists with other arguments is a config error. */
export async function declareTopology(connection: ChannelModel, routes: RouteTopology[]): Promise<string[]> {
  const declared: string[] = [];
  const channel = await connection.createChannel();
  const swallow = () => undefined;
  channel.on('error', swallow);
  try {
    for (const exchange of new Set(routes.map((r) => r.exchange))) {
      await guard(() => channel.assertExchange(exchange, 'topic', { durable: true }), `exchange ${exchange}`);
      declared.push(`exchange ${exchange} (topic, durable)`);
    }
    for (const route of routes) {
      // Where a message may be sent, its target exists first: dlq, then work queue, then retry.
      for (const spec of [queuesOf(route)[2], queuesOf(route)[0], queuesOf(route)[1]]) {
        await guard(() => channel.assertQueue(spec.name, queueOptions(spec.args)), `queue ${spec.name}`);
        declared.push(`queue ${spec.name}`);
      }
      await channel.bindQueue(route.queue, route.exchange, bindingPattern);
      declared.push(`binding ${route.exchange} -[${bindingPattern}]-> ${route.queue}`);
    }
  } finally {
    await channel.close().catch(swallow);
  }
  return declared;
}

/**
 * Verifies without changing anything: a passive check for existence, then a declare with the expected
 * arguments on a throw-away channel, which the broker refuses (406) if the arguments differ and which
 * changes nothing if they are equal. Bindings cannot be checked over AMQP 0-9-1 and are not listed.
 */
export async function checkTopology(connection: ChannelModel, routes: RouteTopology[]): Promise<string[]> {
  const problems: string[] = [];
  for (const exchange of new Set(routes.map((r) => r.exchange))) {
    const exists = await probe(connection, (ch) => ch.checkExchange(exchange));
    if (exists !== true) { problems.push(`exchange ${exchange}: missing`); continue; }
    const same = await probe(connection, (ch) => ch.assertExchange(exchange, 'topic', { durable: true }));
    if (same !== true) problems.push(`exchange ${exchange}: ${same}`);
  }
  for (const route of routes) {
    for (const spec of queuesOf(route)) {
      const exists = await probe(connection, (ch) => ch.checkQueue(spec.name));
      if (exists !== true) { problems.push(`queue ${spec.name}: missing`); continue; }
      const same = await probe(connection, (ch) => ch.assertQueue(spec.name, queueOptions(spec.args)));
      if (same !== true) problems.push(`queue ${spec.name}: ${same}`);
    }
  }
  return problems;
}

async function probe(connection: ChannelModel, operation: (channel: Channel) => Promise<unknown>): Promise<true | string> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    await operation(channel);
    await channel.close().catch(() => undefined);
    return true;
  } catch (error) {
    return brokerReason(error);
  }
}

async function guard<T>(operation: () => Promise<T>, what: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new ExchangeError('TOPOLOGY_MISMATCH', `${what} exists with other settings: ${brokerReason(error)}`, {
      hint: 'the broker keeps a queue\'s arguments for life: delete the queue (after draining it) or change the config to match',
      cause: error,
      details: [`${what}: ${brokerReason(error)}`],
    });
  }
}

export function brokerReason(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  const match = /(PRECONDITION_FAILED|NOT_FOUND) - (.*?)"?$/.exec(message);
  return match ? match[2] : message;
}
