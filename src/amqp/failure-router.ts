import type { ConsumeMessage } from 'amqplib';
import { Header, numberHeader, republishOptions } from './failure-headers.js';
import type { ConfirmPublisher, Outgoing, PublishOutcome } from './publisher.js';
import type { RouteTopology } from './topology.js';

export type FailureDestination = 'retry' | 'dlq';

/**
 * Where a failed message goes: `.retry` (comes back when its expiration, amqp.retryDelayMs, runs out) with one more attempt counted,
 * or `.dlq` when it can never succeed or has used up its attempts. The caller acks the original
 * only after the republish is confirmed.
 */
export class FailureRouter {
  constructor(private readonly publisher: ConfirmPublisher, private readonly route: RouteTopology, private readonly maxAttempts: number) {}

  plan(message: ConsumeMessage, failure: { permanent: boolean; code: string; reason: string }): { destination: FailureDestination; outgoing: Outgoing } {
    const attempts = numberHeader(message, Header.attempts) + 1;
    const destination: FailureDestination = failure.permanent || attempts >= this.maxAttempts ? 'dlq' : 'retry';
    const headers: Record<string, unknown> = {
      [Header.attempts]: attempts,
      [Header.error]: truncate(failure.reason, 1000),
      [Header.errorCode]: failure.code,
      [Header.failedAt]: new Date().toISOString(),
      [Header.queue]: this.route.queue,
    };
    const queue = destination === 'dlq' ? this.route.deadLetterQueue : this.route.retryQueue;
    // The retry delay rides on the message (its expiration), read from the config now: see retryArguments.
    const expiration = destination === 'retry' ? this.route.retryDelayMs : undefined;
    return { destination, outgoing: { exchange: '', routingKey: queue, body: message.content, options: republishOptions(message, headers, expiration) } };
  }

  send(outgoing: Outgoing): Promise<PublishOutcome> {
    return this.publisher.publish(outgoing);
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
