import type { ConsumeMessage } from 'amqplib';
import { Header, numberHeader, republishOptions } from '../amqp/failure-headers.js';
import { closeChannel } from '../amqp/connect.js';
import { ConfirmPublisher, publishError } from '../amqp/publisher.js';
import { requireRoutes, type RouteTopology } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import { Inbox } from './inbox.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import type { Summary } from './summary.js';

export interface ReplayOptions {
  type: EntityType;
  sink?: string;
  limit: number;
  dryRun: boolean;
  /** `id=<id>`, `code=<error code>` or `header:<name>=<value>`; all must match. */
  filters: string[];
  idleMs: number;
  prefetch: number;
}

export interface DeadLetteredMessage {
  queue: string;
  messageId?: string;
  attempts: number;
  replays: number;
  errorCode?: string;
  error?: string;
  failedAt?: string;
  body: string;
}

/**
 * Moves dead-lettered messages back to their work queue (DESIGN §5): republished with the attempt count
 * reset and the replay count raised, confirmed, then acked in the dlq. Messages that do not match the
 * filter, and every message of a dry run, are never acked and go back to the dlq when the channel closes.
 */
export async function replayDeadLetters(context: JobContext, options: ReplayOptions, onMessage: (message: DeadLetteredMessage) => void): Promise<Summary> {
  const matchers = options.filters.map(parseFilter);
  const routes = requireRoutes(context.config, options.type, options.sink);
  return journaled(context, 'replay-dlq', async (counts) => {
    for (const route of routes) {
      const moved = await replayRoute(context, route, options, matchers, onMessage);
      counts.read += moved.read;
      counts.published += moved.published;
    }
  });
}

async function replayRoute(context: JobContext, route: RouteTopology, options: ReplayOptions, matchers: Matcher[], onMessage: (m: DeadLetteredMessage) => void) {
  const connection = await context.connection();
  const channel = await connection.createChannel();
  let lost: Error | undefined;
  let closingOurselves = false;
  channel.on('error', (error: Error) => { lost ??= error; });
  const publisher = await ConfirmPublisher.open(connection, { confirmTimeoutMs: context.config.amqp.confirmTimeoutMs });
  const inbox = new Inbox<ConsumeMessage>();
  channel.on('close', () => {
    // A close we did not ask for ends the run as "broker unavailable", never as a finished replay.
    if (!closingOurselves) lost ??= new Error('the connection or channel was closed');
    inbox.close();
  });
  let read = 0;
  let published = 0;
  try {
    await channel.prefetch(options.prefetch);
    const { consumerTag } = await channel.consume(route.deadLetterQueue, (message) => (message ? inbox.push(message) : inbox.close()));
    const stop = async () => {
      await channel.cancel(consumerTag).catch(() => undefined);
      inbox.close();
    };
    for (;;) {
      const batch = await inbox.take(100, 10, options.idleMs);
      if (batch.length === 0) {
        if (inbox.isClosed) break;
        await stop();
        continue;
      }
      for (const message of batch) {
        read++;
        if (!matchers.every((match) => match(message)) || (options.limit > 0 && published >= options.limit)) continue;
        onMessage(describe(route, message));
        if (options.dryRun) continue;
        const target = route.queue;
        const outcome = await publisher.publish({
          exchange: '',
          routingKey: target,
          body: message.content,
          options: republishOptions(message, { [Header.attempts]: 0, [Header.replays]: numberHeader(message, Header.replays) + 1 }),
        });
        if (!outcome.ok) throw publishError(outcome);
        if (lost) throw dlqLost(route, lost);
        channel.ack(message);
        published++;
      }
      if (options.limit > 0 && published >= options.limit) await stop();
    }
    if (lost) throw dlqLost(route, lost);
  } finally {
    closingOurselves = true;
    // Unacked messages go back to the dlq when the channel closes (or the connection is reset).
    await closeChannel(channel, context.config.amqp.confirmTimeoutMs);
    await publisher.close();
  }
  return { read, published };
}

function dlqLost(route: RouteTopology, cause: Error): ExchangeError {
  return new ExchangeError('AMQP_UNAVAILABLE', `RabbitMQ closed the channel of ${route.deadLetterQueue}: ${cause.message}`, {
    hint: 'unacked messages went back to the dlq; one replayed just before may now also be in the work queue: run again later',
    cause,
  });
}

type Matcher = (message: ConsumeMessage) => boolean;

function parseFilter(filter: string): Matcher {
  const match = /^(id|code|header:([^=]+))=(.*)$/.exec(filter);
  if (!match) throw new ExchangeError('USAGE', `bad --filter "${filter}"`, { hint: 'use id=<id>, code=<error code> or header:<name>=<value>' });
  const [, kind, headerName, value] = match;
  if (kind === 'id') return (message) => entityIdOf(message) === value;
  if (kind === 'code') return (message) => String(message.properties.headers?.[Header.errorCode] ?? '') === value;
  return (message) => String(message.properties.headers?.[headerName] ?? '') === value;
}

function entityIdOf(message: ConsumeMessage): string | undefined {
  try {
    const body = JSON.parse(message.content.toString('utf8')) as { id?: unknown };
    if (typeof body.id === 'string') return body.id;
  } catch {
    // not JSON: fall back on the message-id
  }
  return message.properties.messageId?.split(':')[1];
}

function describe(route: RouteTopology, message: ConsumeMessage): DeadLetteredMessage {
  const headers = message.properties.headers ?? {};
  return {
    queue: route.deadLetterQueue,
    messageId: message.properties.messageId,
    attempts: numberHeader(message, Header.attempts),
    replays: numberHeader(message, Header.replays),
    errorCode: headers[Header.errorCode] === undefined ? undefined : String(headers[Header.errorCode]),
    error: headers[Header.error] === undefined ? undefined : String(headers[Header.error]),
    failedAt: headers[Header.failedAt] === undefined ? undefined : String(headers[Header.failedAt]),
    body: message.content.toString('utf8'),
  };
}
