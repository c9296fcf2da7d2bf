import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { ExchangeError } from '../errors.js';
import { abortAmqp, blockedReason, closeChannel } from './connect.js';

export interface Outgoing {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
}

export type PublishOutcome = { ok: true } | { ok: false; reason: 'returned' | 'nacked' | 'closed' | 'timeout'; detail: string };

const confirmed: PublishOutcome = Object.freeze({ ok: true });

interface Pending {
  exchange: string;
  routingKey: string;
  messageId?: string;
  returned?: string;
  sentAt: number;
  settle: (outcome: PublishOutcome) => void;
}

export interface PublisherOptions {
  /** amqp.confirmTimeoutMs: the longest a publish may wait, for room to send or for its confirm. */
  confirmTimeoutMs: number;
  /** Most unconfirmed messages at once; more would only queue in the broker's memory. */
  window?: number;
}

/**
 * Publisher confirms + mandatory (DESIGN §1). A message counts as published only when the broker
 * confirmed it AND did not return it: RabbitMQ sends basic.return before the basic.ack of an
 * unroutable mandatory message, in publish order, so a return marks the oldest matching pending publish.
 *
 * Every publish settles within confirmTimeoutMs. A broker in a memory or disk alarm blocks the
 * connection and never confirms; then every pending publish fails with 'timeout' and the connection is
 * reset (see abortAmqp), so what the broker did not read is never enqueued behind our back.
 * One timer watches the oldest pending publish (a Set keeps publish order), never one per message.
 */
export class ConfirmPublisher {
  /** Unconfirmed publishes in publish order (a Set keeps insertion order and deletes in O(1)). */
  private readonly pending = new Set<Pending>();
  private closedReason?: string;
  private failure?: PublishOutcome & { ok: false };
  /** The socket's buffer is full: wait for its 'drain'. */
  private backpressure = false;
  private roomWaiters: Array<() => void> = [];
  /** Callers waiting in ready(), and since when none of them has moved on. */
  private waiting = 0;
  private waitingSince = 0;
  private sweepTimer?: NodeJS.Timeout;
  private readonly window: number;
  private readonly timeoutMs: number;
  private readonly onUnblocked = () => this.wakeWaiters();

  private constructor(private readonly connection: ChannelModel, private readonly channel: ConfirmChannel, options: PublisherOptions) {
    this.window = options.window ?? 1000;
    this.timeoutMs = options.confirmTimeoutMs;
    channel.on('return', (message: Message) => this.onReturn(message));
    channel.on('error', (error: Error) => { this.closedReason ??= error.message; });
    channel.on('close', () => {
      this.closedReason ??= 'channel closed';
      this.failAll(this.failure ?? { ok: false, reason: 'closed', detail: this.closedReason });
    });
    connection.on('unblocked', this.onUnblocked);
  }

  static async open(connection: ChannelModel, options: PublisherOptions): Promise<ConfirmPublisher> {
    return new ConfirmPublisher(connection, await connection.createConfirmChannel(), options);
  }

  /**
   * Waits until a message may be sent: fewer than `window` unconfirmed, the socket not backed up and the
   * connection not blocked (what we send then would only wait unread in the broker's socket).
   */
  async ready(): Promise<void> {
    if (!this.mustWait()) return;
    if (this.waiting++ === 0) this.waitingSince = Date.now();
    this.armSweep();
    try {
      // Woken by a confirm, the socket's drain, 'unblocked', or the failure of everything.
      while (this.mustWait()) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    } finally {
      this.waiting--;
    }
  }

  /** True when `ready` would have to wait: a caller sending in a loop awaits it only then (no promise per message). */
  get mustWaitForRoom(): boolean {
    return this.mustWait();
  }

  /** Sends at once (call `ready` first to keep the window); resolves when the broker settled it, never rejects. */
  send(message: Outgoing): Promise<PublishOutcome> {
    return new Promise<PublishOutcome>((resolve) => this.sendThen(message, resolve));
  }

  /** As `send`, with a callback instead of a promise: a caller sending many (the outbox) allocates less per message. */
  sendThen(message: Outgoing, settle: (outcome: PublishOutcome) => void): void {
    if (this.closedReason) { settle(this.failure ?? { ok: false, reason: 'closed', detail: this.closedReason }); return; }
    const entry: Pending = { exchange: message.exchange, routingKey: message.routingKey, messageId: message.options.messageId, sentAt: Date.now(), settle };
    this.pending.add(entry);
    this.armSweep();
    const written = this.channel.publish(message.exchange, message.routingKey, message.body, { ...message.options, mandatory: true }, (error) => {
      if (!this.pending.delete(entry)) return; // already failed by the timeout or the close
      this.wakeWaiters();
      if (error) settle({ ok: false, reason: 'nacked', detail: 'the broker refused the message (nack)' });
      else if (entry.returned) settle({ ok: false, reason: 'returned', detail: entry.returned });
      else settle(confirmed);
    });
    if (!written && !this.backpressure) {
      this.backpressure = true;
      this.channel.once('drain', () => { this.backpressure = false; this.wakeWaiters(); });
    }
  }

  async publish(message: Outgoing): Promise<PublishOutcome> {
    await this.ready();
    return this.send(message);
  }

  async close(): Promise<void> {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.connection.off('unblocked', this.onUnblocked);
    // A channel of a blocked connection never gets its close-ok: the connection's close resets it.
    if (this.failure?.reason === 'timeout' || blockedReason(this.connection) !== undefined) return;
    await closeChannel(this.channel, this.timeoutMs);
  }

  private mustWait(): boolean {
    if (this.closedReason) return false;
    return this.pending.size >= this.window || this.backpressure || blockedReason(this.connection) !== undefined;
  }

  private armSweep(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => this.sweep(), this.timeoutMs);
    this.sweepTimer.unref();
  }

  /** Fails everything once the oldest publish, or a wait for room, is older than the timeout; else looks again then. */
  private sweep(): void {
    this.sweepTimer = undefined;
    if (this.closedReason) return;
    const oldest = this.pending.values().next().value as Pending | undefined;
    const since = Math.min(oldest?.sentAt ?? Infinity, this.waiting > 0 ? this.waitingSince : Infinity);
    if (since === Infinity) return;
    const left = since + this.timeoutMs - Date.now();
    if (left > 0) {
      this.sweepTimer = setTimeout(() => this.sweep(), left);
      this.sweepTimer.unref();
      return;
    }
    const blocked = blockedReason(this.connection);
    const detail = `RabbitMQ did not confirm a publish within ${this.timeoutMs} ms (amqp.confirmTimeoutMs)${blocked === undefined ? '' : `; the broker blocked the connection: ${blocked}`}`;
    this.failure = { ok: false, reason: 'timeout', detail };
    this.closedReason = detail;
    this.failAll(this.failure);
    abortAmqp(this.connection, detail);
  }

  private failAll(outcome: PublishOutcome & { ok: false }): void {
    const entries = [...this.pending];
    this.pending.clear();
    for (const entry of entries) entry.settle(outcome);
    this.backpressure = false;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    // Someone moves on: the wait so far was progress, not a stall.
    if (this.waiting > 0) this.waitingSince = Date.now();
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

/** The error a job stops with when a publish failed (exit 69 either way); the hint says what was kept. */
export function publishError(outcome: PublishOutcome & { ok: false }): ExchangeError {
  switch (outcome.reason) {
    case 'returned':
      return new ExchangeError('UNROUTABLE', `a message could not be published: ${outcome.detail}`, {
        hint: 'run `exchange setup` so that every route has its queue, then run again: nothing was lost',
      });
    case 'nacked':
      return new ExchangeError('AMQP_UNAVAILABLE', `a message could not be published: ${outcome.detail}`, {
        hint: 'a full queue that rejects publishes (overflow) or a broker error; nothing unconfirmed was acked or marked published: run again later',
      });
    case 'timeout':
      return new ExchangeError('AMQP_UNAVAILABLE', outcome.detail, {
        hint: 'RabbitMQ is in a memory or disk alarm (`rabbitmqctl status`) or a queue has lost its majority; nothing unconfirmed was acked or marked published: run again when it has cleared',
      });
    case 'closed':
      return new ExchangeError('AMQP_UNAVAILABLE', `RabbitMQ closed the publishing channel before confirming: ${outcome.detail}`, {
        hint: 'nothing unconfirmed was acked or marked published: run again when RabbitMQ is back',
      });
  }
}

/**
 * Sends settled by callback and awaited as one: one promise per group instead of one per message, on the hot
 * paths (the outbox's pages, `publish` of a fixture file). `confirmedTags` holds the tags of the confirmed sends
 * that were given one, in confirm order (publish order on one channel); `confirmedCount` counts them all.
 */
export class SendGroup {
  readonly confirmedTags: number[] = [];
  confirmedCount = 0;
  private outstanding = 0;
  private sealed = false;
  private wake?: () => void;

  constructor(private readonly publisher: ConfirmPublisher, private readonly onFailure: (outcome: PublishOutcome & { ok: false }) => void) {}

  send(message: Outgoing, tag?: number): void {
    this.outstanding++;
    this.publisher.sendThen(message, (outcome) => {
      if (outcome.ok) {
        this.confirmedCount++;
        if (tag !== undefined) this.confirmedTags.push(tag);
      } else {
        this.onFailure(outcome);
      }
      if (--this.outstanding === 0 && this.sealed) this.wake?.();
    });
  }

  /** Resolves once every send of the group is settled; call it after the last send. */
  settled(): Promise<void> {
    this.sealed = true;
    return this.outstanding === 0 ? Promise.resolve() : new Promise((resolve) => { this.wake = resolve; });
  }
}
