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
      for (const spec of [queuesOf(route)[2], queuesOf(route)[0]]) {
        await guard(() => channel.assertQueue(spec.name, queueOptions(spec.args)), `queue ${spec.name}`);
        declared.push(`queue ${spec.name}`);
      }
      const retry = queuesOf(route)[1];
      const state = await retryQueueState(connection, retry);
      if (state.problem !== undefined) {
        throw new ExchangeError('TOPOLOGY_MISMATCH', `queue ${retry.name} exists with other settings: ${state.problem}`, {
          hint: 'the broker keeps a queue\'s arguments for life: delete the queue (after draining it) or change the config to match',
          details: [`queue ${retry.name}: ${state.problem}`],
        });
      }
      declared.push(`queue ${retry.name}${state.note ? ` (${state.note})` : ''}`);
      await channel.bindQueue(route.queue, route.exchange, bindingPattern);
      declared.push(`binding ${route.exchange} -[${bindingPattern}]-> ${route.queue}`);
    }
  } finally {
    await channel.close().catch(swallow);
  }
  return declared;
}

/** One thing `setup --check` looked at, and what it found: `ok`, `missing` or `differs: <the broker's reason>`. */
export interface TopologyCheck {
  name: string;
  state: string;
}

/**
 * Verifies without changing anything: a passive check for existence, then a declare with the expected
 * arguments on a throw-away channel, which the broker refuses (406) if the arguments differ and which
 * changes nothing if they are equal. Bindings cannot be checked over AMQP 0-9-1 and are not listed.
 */
export async function inspectTopology(connection: ChannelModel, routes: RouteTopology[]): Promise<TopologyCheck[]> {
  const checks: TopologyCheck[] = [];
  for (const exchange of new Set(routes.map((r) => r.exchange))) {
    const name = `exchange ${exchange}`;
    const exists = await probe(connection, (ch) => ch.checkExchange(exchange));
    if (exists !== true) { checks.push({ name, state: 'missing' }); continue; }
    const same = await probe(connection, (ch) => ch.assertExchange(exchange, 'topic', { durable: true }));
    checks.push({ name, state: same === true ? 'ok' : `differs: ${same}` });
  }
  for (const route of routes) {
    for (const [index, spec] of queuesOf(route).entries()) {
      const name = `queue ${spec.name}`;
      const exists = await probe(connection, (ch) => ch.checkQueue(spec.name));
      if (exists !== true) { checks.push({ name, state: 'missing' }); continue; }
      if (index === 1) {
        const retry = await retryQueueState(connection, spec);
        checks.push({ name, state: retry.problem !== undefined ? `differs: ${retry.problem}` : `ok${retry.note ? ` (${retry.note})` : ''}` });
        continue;
      }
      const same = await probe(connection, (ch) => ch.assertQueue(spec.name, queueOptions(spec.args)));
      checks.push({ name, state: same === true ? 'ok' : `differs: ${same}` });
    }
  }
  return checks;
}

/** The differences alone, one `<what>: <problem>` line each (none: the broker matches the config). */
export async function checkTopology(connection: ChannelModel, routes: RouteTopology[]): Promise<string[]> {
  return (await inspectTopology(connection, routes))
    .filter((check) => !check.state.startsWith('ok'))
    .map((check) => `${check.name}: ${check.state.replace(/^differs: /, '')}`);
}

/**
 * A `.retry` queue takes its delay from each message's expiration (amqp.retryDelayMs when it is republished),
 * so it is declared without `x-message-ttl` and the delay can change without a new queue. One declared by an
 * earlier setup still carries the TTL of its day; it keeps working (the broker applies the lower of the two),
 * so a refusal that names only that argument is checked again with the queue's own value: if every other
 * argument matches, the queue is accepted as it is.
 */
async function retryQueueState(connection: ChannelModel, spec: QueueSpec): Promise<{ problem?: string; note?: string }> {
  const same = await probe(connection, (ch) => ch.assertQueue(spec.name, queueOptions(spec.args)));
  if (same === true) return {};
  const legacyTtl = /inequivalent arg 'x-message-ttl'.*received none but current is the value '(\d+)'/.exec(same);
  if (!legacyTtl) return { problem: same };
  const ttl = Number(legacyTtl[1]);
  const withTtl = await probe(connection, (ch) => ch.assertQueue(spec.name, queueOptions({ ...spec.args, 'x-message-ttl': ttl })));
  if (withTtl !== true) return { problem: withTtl };
  return { note: `x-message-ttl ${ttl} from an earlier setup: the retry delay is at most ${ttl} ms; delete the queue when it is empty to lift that bound` };
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
