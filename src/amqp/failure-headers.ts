import type { Message, Options } from 'amqplib';

/**
 * Our own failure headers (DESIGN §5). Not x-death: from RabbitMQ 4.0 on the broker owns every x- header
 * and ignores a client-set x-death, so counting retries on it would loop forever on some brokers.
 */
export const Header = {
  attempts: 'exchange-attempts',
  replays: 'exchange-replays',
  error: 'exchange-error',
  errorCode: 'exchange-error-code',
  failedAt: 'exchange-failed-at',
  queue: 'exchange-queue',
} as const;

export function numberHeader(message: Message, name: string): number {
  const value = message.properties.headers?.[name];
  const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number.parseInt(value, 10) : Number(value ?? 0);
  return Number.isFinite(parsed) && parsed > 0 ? Math.floor(parsed) : 0;
}

/**
 * The message's properties for a republish, with headers changed and the broker's x- headers left behind.
 * `expirationMs` sets how long it may wait where it goes (the retry delay); without it the copy never expires.
 */
export function republishOptions(message: Message, headers: Record<string, unknown>, expirationMs?: number): Options.Publish {
  const p = message.properties;
  const kept = Object.fromEntries(Object.entries(p.headers ?? {}).filter(([name]) => !name.startsWith('x-')));
  return {
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    messageId: p.messageId,
    correlationId: p.correlationId,
    timestamp: p.timestamp,
    type: p.type,
    appId: p.appId,
    priority: p.priority,
    persistent: true,
    headers: { ...kept, ...headers },
    // The broker takes the expiration as a string of milliseconds.
    ...(expirationMs === undefined ? {} : { expiration: String(expirationMs) }),
  };
}

/**
 * The message's properties for an exact copy: replay-dlq puts each message it does not move back at the tail of
 * its queue, so the copy keeps everything an operator or a later replay reads (headers, ids, timestamp, type),
 * except what a copy must not carry:
 * - `expiration`: the dlq has no dead-letter target, so a copy that expires there would be dropped for good;
 * - `userId`: the broker refuses (and closes the channel on) a user-id other than the connection's own;
 * - `x-delivery-count`: the quorum queue's count of the original's deliveries, while the copy has had none.
 * It is always persistent: a parked message must survive a broker restart.
 */
export function copyOptions(message: Message): Options.Publish {
  const p = message.properties;
  const headers = Object.fromEntries(Object.entries(p.headers ?? {}).filter(([name]) => name !== 'x-delivery-count'));
  return {
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    messageId: p.messageId,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    timestamp: p.timestamp,
    type: p.type,
    appId: p.appId,
    priority: p.priority,
    persistent: true,
    headers,
  };
}
