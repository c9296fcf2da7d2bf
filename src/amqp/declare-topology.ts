import type { Channel, ChannelModel } from 'amqplib';
import { ExchangeError } from '../errors.js';
import { bindingPattern, initialGroupSizeArgument, queueOptions, type RouteTopology } from './topology.js';

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
      for (const [index, spec] of [[2, queuesOf(route)[2]], [0, queuesOf(route)[0]], [1, queuesOf(route)[1]]] as const) {
        const state = await queueState(connection, spec, index === 1);
        if (state.problem !== undefined) {
          throw new ExchangeError('TOPOLOGY_MISMATCH', `queue ${spec.name} exists with other settings: ${state.problem}`, {
            hint: 'the broker keeps a queue\'s arguments for life: delete the queue (after draining it) or change the config to match',
            details: [`queue ${spec.name}: ${state.problem}`],
          });
        }
        declared.push(`queue ${spec.name}${state.note ? ` (${state.note})` : ''}`);
      }
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
      const state = await queueState(connection, spec, index === 1);
      checks.push({ name, state: state.problem !== undefined ? `differs: ${state.problem}` : `ok${state.note ? ` (${state.note})` : ''}` });
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
 * Declares a queue with the config's arguments; for an existing queue, a comparison that changes nothing.
 * The broker refuses (406) a declare whose arguments differ from the queue's, naming one argument per refusal.
 * Two differences are accepted, each by declaring again with the queue's own value, so that every other
 * argument is still compared:
 * - `x-quorum-initial-group-size` is read only when a quorum queue is created (how many nodes hold it), yet
 *   the broker compares it like any other argument: a queue created before amqp.quorumInitialGroupSize was
 *   set or changed keeps its replicas and works, and must not fail every drain with 78.
 * - A `.retry` queue (`acceptLegacyTtl`) takes its delay from each message's expiration (amqp.retryDelayMs when
 *   it is republished), so it is declared without `x-message-ttl` and the delay can change without a new queue.
 *   One declared by an earlier setup still carries the TTL of its day; it keeps working (the broker applies
 *   the lower of the two), so it is accepted as it is.
 */
async function queueState(connection: ChannelModel, spec: QueueSpec, acceptLegacyTtl: boolean): Promise<{ problem?: string; note?: string }> {
  const args = { ...spec.args };
  const notes: string[] = [];
  const note = () => (notes.length > 0 ? notes.join('; ') : undefined);
  // One round per accepted argument, then one that must match.
  for (let round = 0; round < 3; round++) {
    const same = await probe(connection, (ch) => ch.assertQueue(spec.name, queueOptions(args)));
    if (same === true) return { note: note() };
    const groupSize = new RegExp(`inequivalent arg '${initialGroupSizeArgument}'.*but current is (?:the value )?(?:'(\\d+)'|none)`).exec(same);
    if (groupSize && args[initialGroupSizeArgument] === spec.args[initialGroupSizeArgument]) {
      if (groupSize[1] === undefined) delete args[initialGroupSizeArgument];
      else args[initialGroupSizeArgument] = Number(groupSize[1]);
      const configured = spec.args[initialGroupSizeArgument];
      notes.push(`${initialGroupSizeArgument} ${groupSize[1] ?? 'unset'} since its creation; amqp.quorumInitialGroupSize (${configured ?? 'unset'}) applies to queues created from now on`);
      continue;
    }
    const legacyTtl = acceptLegacyTtl && !('x-message-ttl' in args) ? /inequivalent arg 'x-message-ttl'.*received none but current is the value '(\d+)'/.exec(same) : null;
    if (legacyTtl) {
      const ttl = Number(legacyTtl[1]);
      args['x-message-ttl'] = ttl;
      notes.push(`x-message-ttl ${ttl} from an earlier setup: the retry delay is at most ${ttl} ms; delete the queue when it is empty to lift that bound`);
      continue;
    }
    return { problem: same, note: note() };
  }
  return { problem: 'the broker kept refusing the queue\'s own arguments', note: note() };
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
