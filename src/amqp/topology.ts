import type { Options } from 'amqplib';
import type { ExchangeConfig, SinkName } from '../config/schema.js';
import { ExchangeError } from '../errors.js';
import { entityTypes, type EntityType } from '../messages/entity-types.js';

/**
 * The broker layout of DESIGN §5, computed from the config alone, so that `setup`, `setup --check`,
 * the drain, the publisher and `status` all agree on names and arguments.
 */
export interface RouteTopology {
  type: EntityType;
  sink: SinkName;
  exchange: string;
  queue: string;
  retryQueue: string;
  deadLetterQueue: string;
  queueArguments: Record<string, unknown>;
  retryArguments: Record<string, unknown>;
  /** How long a message waits in `.retry`: the expiration of each message republished there. */
  retryDelayMs: number;
  deadLetterArguments: Record<string, unknown>;
}

export function exchangeName(config: ExchangeConfig, type: EntityType): string {
  return `${config.tenant ? `${config.tenant}.` : ''}${type}`;
}

export function routeTopology(config: ExchangeConfig, type: EntityType, sink: SinkName): RouteTopology {
  const queue = `${exchangeName(config, type)}.${sink}`;
  const retryQueue = `${queue}.retry`;
  const deadLetterQueue = `${queue}.dlq`;
  const typeArguments: Record<string, unknown> = { 'x-queue-type': config.amqp.queueType };
  // How many nodes hold each quorum queue; only read when a queue is created (declare-topology accepts an
  // existing queue created with another value), so it can change without new queues.
  if (config.amqp.queueType === 'quorum' && config.amqp.quorumInitialGroupSize !== undefined) {
    typeArguments[initialGroupSizeArgument] = config.amqp.quorumInitialGroupSize;
  }
  // Quorum queues dead-letter at-least-once only with reject-publish overflow; without it a broker-side
  // dead-lettering (delivery limit, TTL) could drop the message if the target were briefly unavailable.
  const safeDeadLettering: Record<string, unknown> = config.amqp.queueType === 'quorum'
    ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
    : {};
  return {
    type,
    sink,
    exchange: exchangeName(config, type),
    queue,
    retryQueue,
    deadLetterQueue,
    // The work queue dead-letters into its .dlq: our code never nacks without requeue, so only the broker
    // itself (a quorum queue's delivery limit) can take this path, and then the message is parked, not lost.
    queueArguments: { ...typeArguments, ...safeDeadLettering, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deadLetterQueue },
    // No x-message-ttl: the delay is each message's expiration, set from amqp.retryDelayMs when the drain
    // republishes it (FailureRouter), so changing the delay needs no new queue. Every message of a .retry queue
    // waits the same delay and the queue is FIFO, so a per-message TTL (which expires only at the head) is exact.
    retryArguments: { ...typeArguments, ...safeDeadLettering, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue },
    retryDelayMs: config.amqp.retryDelayMs,
    deadLetterArguments: { ...typeArguments },
  };
}

export function routesOf(config: ExchangeConfig, type: EntityType, onlySink?: string): RouteTopology[] {
  return config.routes[type].filter((sink) => !onlySink || sink === onlySink).map((sink) => routeTopology(config, type, sink));
}

/** The routes a command names; none is a usage error that says which sinks the type has. */
export function requireRoutes(config: ExchangeConfig, type: EntityType, onlySink?: string): RouteTopology[] {
  const routes = routesOf(config, type, onlySink);
  if (routes.length === 0) {
    throw new ExchangeError('USAGE', `the type "${type}" has no route to the sink "${onlySink}"`, {
      hint: `routes.${type} in the config lists: ${config.routes[type].join(', ')}`,
    });
  }
  return routes;
}

export function allRoutes(config: ExchangeConfig): RouteTopology[] {
  return entityTypes.flatMap((type) => routesOf(config, type));
}

export function queueOptions(args: Record<string, unknown>): Options.AssertQueue {
  return { durable: true, arguments: args };
}

export const bindingPattern = '#';

/** A quorum queue's replication factor at creation; the broker still compares it on every declare. */
export const initialGroupSizeArgument = 'x-quorum-initial-group-size';
