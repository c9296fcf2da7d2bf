import type { Channel, ConsumeMessage } from 'amqplib';

export interface BoundedConsumerOptions {
  prefetch: number;
  /** Most messages this consumer may receive; 0 = no bound. */
  limit: number;
  /** Never ack (dry run): the messages go back to the queue when the channel closes. */
  holdAll?: boolean;
}

/**
 * basic.consume with a prefetch window that can never deliver more than `limit` messages.
 *
 * The broker sends while unacked < prefetch. Delivery tags count receptions (1, 2, …), so if we
 * only ack tags ≤ limit − prefetch while the consumer is active, the window can never reach past
 * tag `limit`. Once `limit` messages are in, the consumer is cancelled and, after cancel-ok (no
 * more deliveries), the rest is acked. Nothing is nacked or requeued, so the order is the broker's.
 */
export class BoundedConsumer {
  readonly prefetch: number;
  private readonly limit: number;
  private consumerTag?: string;
  private cancelled?: Promise<void>;
  private received = 0;
  private ackedUpTo = 0;
  private readonly settled = new Set<number>();
  /** An ack failed: the channel is gone, and with it every unacked message went back to the queue. */
  private channelLost = false;

  constructor(private readonly channel: Channel, private readonly queue: string, private readonly options: BoundedConsumerOptions) {
    this.limit = options.limit;
    this.prefetch = options.limit > 0 ? Math.min(options.prefetch, options.limit) : options.prefetch;
  }

  get receivedCount(): number {
    return this.received;
  }

  get limitReached(): boolean {
    return this.limit > 0 && this.received >= this.limit;
  }

  get active(): boolean {
    return this.consumerTag !== undefined && this.cancelled === undefined;
  }

  async start(onMessage: (message: ConsumeMessage) => void, onCancelledByBroker: () => void): Promise<void> {
    await this.channel.prefetch(this.prefetch);
    const reply = await this.channel.consume(this.queue, (message) => {
      if (message === null) {
        // The broker cancelled us (queue deleted, or a node went down): stop taking work.
        this.cancelled ??= Promise.resolve();
        this.ackReady();
        onCancelledByBroker();
        return;
      }
      this.received++;
      onMessage(message);
    }, { noAck: false });
    this.consumerTag = reply.consumerTag;
  }

  /** Stops deliveries; resolves at cancel-ok, after which no message arrives. Idempotent. */
  stop(): Promise<void> {
    if (!this.consumerTag) return Promise.resolve();
    this.cancelled ??= this.channel.cancel(this.consumerTag).then(() => undefined, () => undefined).then(() => this.ackReady());
    return this.cancelled;
  }

  /** Marks messages as done (written, or safely republished): they are acked as soon as the bound allows. */
  settle(messages: ConsumeMessage[]): void {
    for (const message of messages) this.settled.add(message.fields.deliveryTag);
    this.ackReady();
  }

  /**
   * Acks what is settled, as far as the bound allows: the unbroken run from the last ack with one
   * `multiple` ack, then, past a gap (a message that failed and is left to go back to the queue), each
   * on its own, since a `multiple` ack would take the gap with it. Never throws: on a closed channel
   * the unacked messages are back in the queue already, which is what "not acked" must mean.
   */
  private ackReady(): void {
    if (this.options.holdAll || this.channelLost) return;
    const ceiling = this.limit > 0 && this.cancelled === undefined ? this.limit - this.prefetch : Number.POSITIVE_INFINITY;
    let upTo = this.ackedUpTo;
    while (upTo < ceiling && this.settled.has(upTo + 1)) {
      upTo++;
      this.settled.delete(upTo);
    }
    try {
      if (upTo > this.ackedUpTo) {
        this.channel.ack({ fields: { deliveryTag: upTo } } as ConsumeMessage, true);
        this.ackedUpTo = upTo;
      }
      for (const tag of this.settled) {
        if (tag > ceiling) continue;
        this.channel.ack({ fields: { deliveryTag: tag } } as ConsumeMessage, false);
        this.settled.delete(tag);
      }
    } catch {
      this.channelLost = true;
    }
  }
}
