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
  /** Unconfirmed publishes in publish order (a Set keeps insertion order and deletes in O(1)). */
  private readonly pending = new Set<Pending>();
  private closedReason?: string;
  private backpressure?: Promise<void>;
  private roomWaiters: Array<() => void> = [];

  private constructor(private readonly channel: ConfirmChannel, private readonly window: number) {
    channel.on('return', (message: Message) => this.onReturn(message));
    channel.on('error', (error: Error) => { this.closedReason = error.message; });
    channel.on('close', () => {
      this.closedReason ??= 'channel closed';
      for (const entry of this.pending) entry.settle({ ok: false, reason: 'closed', detail: this.closedReason });
      this.pending.clear();
      this.wakeWaiters();
    });
  }

  /** `window`: most unconfirmed messages at once; more would only queue in the broker's memory. */
  static async open(connection: ChannelModel, window = 1000): Promise<ConfirmPublisher> {
    return new ConfirmPublisher(await connection.createConfirmChannel(), window);
  }

  /** Waits until a message may be sent: fewer than `window` unconfirmed and the socket not backed up. */
  async ready(): Promise<void> {
    while (!this.closedReason && (this.pending.size >= this.window || this.backpressure)) {
      if (this.backpressure) await this.backpressure;
      else await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /** Sends at once (call `ready` first to keep the window); resolves when the broker settled it, never rejects. */
  send(message: Outgoing): Promise<PublishOutcome> {
    if (this.closedReason) return Promise.resolve({ ok: false, reason: 'closed', detail: this.closedReason });
    return new Promise<PublishOutcome>((resolve) => {
      const entry: Pending = { exchange: message.exchange, routingKey: message.routingKey, messageId: message.options.messageId, settle: resolve };
      this.pending.add(entry);
      const written = this.channel.publish(message.exchange, message.routingKey, message.body, { ...message.options, mandatory: true }, (error) => {
        this.pending.delete(entry);
        this.wakeWaiters();
        if (error) resolve({ ok: false, reason: 'nacked', detail: 'the broker refused the message (nack)' });
        else if (entry.returned) resolve({ ok: false, reason: 'returned', detail: entry.returned });
        else resolve({ ok: true });
      });
      if (!written) this.backpressure ??= new Promise((done) => this.channel.once('drain', () => { this.backpressure = undefined; done(); }));
    });
  }

  async publish(message: Outgoing): Promise<PublishOutcome> {
    await this.ready();
    return this.send(message);
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
  }

  private wakeWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  private onReturn(message: Message): void {
    const { exchange, routingKey } = message.fields;
    let entry: Pending | undefined;
    for (const candidate of this.pending) {
      if (!candidate.returned && candidate.exchange === exchange && candidate.routingKey === routingKey && candidate.messageId === message.properties.messageId) { entry = candidate; break; }
    }
    if (entry) entry.returned = `no queue is bound to exchange "${exchange || '(default)'}" for routing key "${routingKey}" (returned: ${(message.fields as { replyText?: string }).replyText ?? "NO_ROUTE"})`;
  }

}

export function unroutableError(outcome: PublishOutcome & { ok: false }): ExchangeError {
  return new ExchangeError('UNROUTABLE', `a message could not be published: ${outcome.detail}`, {
    hint: 'run `exchange setup` so that every route has its queue, then run again: nothing was lost',
  });
}

/** Sends still in flight and the first failure among them: a streaming publisher stops at the first. */
export class PublishTracker {
  private readonly outstanding = new Set<Promise<PublishOutcome>>();
  failure?: PublishOutcome & { ok: false };

  track(outcome: Promise<PublishOutcome>): Promise<PublishOutcome> {
    this.outstanding.add(outcome);
    void outcome.then((settled) => {
      this.outstanding.delete(outcome);
      if (!settled.ok) this.failure ??= settled;
    });
    return outcome;
  }

  /** Waits for every tracked send; then throws for the first failure, if any. */
  async settle(): Promise<void> {
    await Promise.all(this.outstanding);
    if (this.failure) throw unroutableError(this.failure);
  }
}
