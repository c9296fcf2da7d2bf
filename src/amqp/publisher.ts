import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { ExchangeError } from '../errors.js';

export interface Outgoing {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
}

export type PublishOutcome = { ok: true } | { ok: false; reason: 'returned' | 'nacked' | 'closed'; detail: string };

interface Pending {
  exchange: string;
  routingKey: string;
  messageId?: string;
  returned?: string;
  settle: (outcome: PublishOutcome) => void;
}

/**
 * Publisher confirms + mandatory (DESIGN §1). A message counts as published only when the broker
 * confirmed it AND did not return it: RabbitMQ sends basic.return before the basic.ack of an
 * unroutable mandatory message, in publish order, so a return marks the oldest matching pending publish.
 */
export class ConfirmPublisher {
  private readonly pending: Pending[] = [];
  private closedReason?: string;

  private constructor(private readonly channel: ConfirmChannel) {
    channel.on('return', (message: Message) => this.onReturn(message));
    channel.on('error', (error: Error) => { this.closedReason = error.message; });
    channel.on('close', () => {
      this.closedReason ??= 'channel closed';
      for (const entry of this.pending.splice(0)) entry.settle({ ok: false, reason: 'closed', detail: this.closedReason });
    });
  }

  static async open(connection: ChannelModel): Promise<ConfirmPublisher> {
    return new ConfirmPublisher(await connection.createConfirmChannel());
  }

  /** Resolves when the broker has settled the message; never rejects (the outcome says what happened). */
  async publish(message: Outgoing): Promise<PublishOutcome> {
    if (this.closedReason) return { ok: false, reason: 'closed', detail: this.closedReason };
    const outcome = new Promise<PublishOutcome>((resolve) => {
      const entry: Pending = {
        exchange: message.exchange,
        routingKey: message.routingKey,
        messageId: message.options.messageId,
        settle: resolve,
      };
      this.pending.push(entry);
      const written = this.channel.publish(message.exchange, message.routingKey, message.body, { ...message.options, mandatory: true }, (error) => {
        this.remove(entry);
        if (error) resolve({ ok: false, reason: 'nacked', detail: 'the broker refused the message (nack)' });
        else if (entry.returned) resolve({ ok: false, reason: 'returned', detail: entry.returned });
        else resolve({ ok: true });
      });
      if (!written) this.backpressure = this.backpressure ?? new Promise((done) => this.channel.once('drain', () => { this.backpressure = undefined; done(); }));
    });
    if (this.backpressure) await this.backpressure;
    return outcome;
  }

  /** Publishes many, keeping up to `window` unconfirmed at once; outcomes in input order. */
  async publishAll(messages: Outgoing[], window = 1000): Promise<PublishOutcome[]> {
    const outcomes: Promise<PublishOutcome>[] = [];
    const inFlight = new Set<Promise<PublishOutcome>>();
    for (const message of messages) {
      if (inFlight.size >= window) await Promise.race(inFlight);
      const outcome = this.publish(message);
      outcomes.push(outcome);
      inFlight.add(outcome);
      void outcome.then(() => inFlight.delete(outcome));
    }
    return Promise.all(outcomes);
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
  }

  private backpressure?: Promise<void>;

  private onReturn(message: Message): void {
    const { exchange, routingKey } = message.fields;
    const entry = this.pending.find((p) => !p.returned && p.exchange === exchange && p.routingKey === routingKey && p.messageId === message.properties.messageId);
    if (entry) entry.returned = `no queue is bound to exchange "${exchange || '(default)'}" for routing key "${routingKey}" (returned: ${(message.fields as { replyText?: string }).replyText ?? "NO_ROUTE"})`;
  }

  private remove(entry: Pending): void {
    const index = this.pending.indexOf(entry);
    if (index >= 0) this.pending.splice(index, 1);
  }
}

export function unroutableError(outcome: PublishOutcome & { ok: false }): ExchangeError {
  return new ExchangeError('UNROUTABLE', `a message could not be published: ${outcome.detail}`, {
    hint: 'run `exchange setup` so that every route has its queue, then run again: nothing was lost',
  });
}
