import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { BoundedConsumer } from '../amqp/bounded-consumer.js';
import { declareTopology } from '../amqp/declare-topology.js';
import { FailureRouter } from '../amqp/failure-router.js';
import { closeChannel, wasAborted } from '../amqp/connect.js';
import { ConfirmPublisher, publishError, type PublishOutcome } from '../amqp/publisher.js';
import { requireRoutes, type RouteTopology } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import { parseEnvelope, type Envelope } from '../messages/envelope.js';
import type { EntityType } from '../messages/entity-types.js';
import { sinkPlugin } from '../sinks/registry.js';
import type { Sink, SinkItemResult } from '../sinks/sink.js';
import { takeLock, type HeldLock } from './exclusive-lock.js';
import { Inbox } from './inbox.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import { emptyCounts, type Counts, type Summary } from './summary.js';

export interface DrainOptions {
  type: EntityType;
  /** Only this route's queue; all of the type's routes when absent. */
  sink?: string;
  /** Most messages taken from each queue this run; 0 = until the queue is empty. */
  limit: number;
  batchSize: number;
  prefetch: number;
  /**
   * Stop when nothing arrives for this long. Unless `waitForMore`, a run stops sooner: as soon as everything
   * delivered is settled and a passive declare says the queue has no ready message (it is known to be empty).
   */
  idleMs: number;
  /** `--idle-ms` given: keep consuming until nothing arrives for idleMs, even when the queue looks empty. */
  waitForMore?: boolean;
  dryRun: boolean;
  exclusive: boolean;
  /** Aborted on SIGINT/SIGTERM: stop taking messages, finish the ones in hand. */
  signal?: AbortSignal;
  /** Name in the run journal and the summary (the command as typed). */
  command?: string;
}

/** Connections lost and made again in one route's drain before the run gives up with 69. */
const maxReconnects = 3;

/** How long a partial batch waits for more messages before it is written anyway. */
const lingerMs = 15;
/**
 * How long an empty inbox waits for a delivery before the queue is asked whether it is empty. While messages
 * flow, the next delivery comes well within this, so the passive declare runs about once at the end.
 */
const emptyCheckAfterMs = 20;

/** Drains the type's queues into their sinks (DESIGN §2): at-least-once, acked only after the write. */
export async function drain(context: JobContext, options: DrainOptions): Promise<Summary> {
  const routes = requireRoutes(context.config, options.type, options.sink);
  // The connection's handshake overlaps opening the store and the run journal: both come before the first
  // message. A refused connection is reported where it is awaited below, as before.
  context.connection().catch(() => undefined);
  return journaled(context, options.command ?? options.type, async (counts) => {
    const store = await context.recordStore();
    let lock: HeldLock | undefined;
    if (options.exclusive) lock = await takeLock(store, `drain:${routes[0].exchange}${options.sink ? `.${options.sink}` : ''}`, context.config.drain.lockAtMostForMs, context.reporter);
    try {
      const connection = await context.connection();
      if (!options.dryRun) await declareTopology(connection, routes);
      for (const route of routes) {
        if (options.signal?.aborted) break;
        const sink = options.dryRun ? undefined : await (await sinkPlugin(route.sink)).open({ config: context.config, recordStore: store, reporter: context.reporter });
        try {
          await drainWithReconnects(context, route, sink, options, counts);
        } finally {
          await sink?.close();
        }
      }
    } finally {
      await lock?.release();
    }
  });
}

/**
 * A route's drain that carries on when RabbitMQ drops the connection (a cluster node stopped, a restart, a forced
 * close): it connects again, to the first node of amqp.urls that answers, and consumes on. What it had not acked
 * went back to the queue and comes again, recognised by its version (unchanged), so nothing is written twice.
 * Not after a connection we dropped ourselves (a blocked broker that did not confirm), not with --limit (its bound
 * counts deliveries) or --dry-run (it would look at the same messages again), and at most maxReconnects times.
 */
async function drainWithReconnects(context: JobContext, route: RouteTopology, sink: Sink | undefined, options: DrainOptions, counts: Counts): Promise<void> {
  for (let reconnects = 0; ; reconnects++) {
    const connection = await context.connection();
    try {
      await new RouteDrain(context, route, sink, options, counts).run();
      return;
    } catch (error) {
      const reconnectable = error instanceof ConnectionLost && !wasAborted(connection) && options.limit === 0 && !options.dryRun;
      if (!reconnectable || reconnects >= maxReconnects || options.signal?.aborted) throw error;
      context.reporter.warn(`${(error as Error).message}; connecting again (${reconnects + 1} of ${maxReconnects})`);
      // A moment for the cluster to elect the queue's new leader; longer each time.
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** reconnects));
      await context.reconnect();
    }
  }
}

class RouteDrain {
  private readonly inbox = new Inbox<ConsumeMessage>();
  private brokerFailure?: Error;
  /** The counts when this route started (they add up over the type's routes), and its depth then: the progress bar's total. */
  private before = emptyCounts();
  private total: number | null = null;
  /** Messages of this route whose batch is done (settled, or, in a dry run, looked at). */
  private handled = 0;

  constructor(
    private readonly context: JobContext,
    private readonly route: RouteTopology,
    private readonly sink: Sink | undefined,
    private readonly options: DrainOptions,
    private readonly counts: Counts,
  ) {}

  async run(): Promise<void> {
    const connection = await this.context.connection();
    this.before = { ...this.counts };
    // One passive-declare channel: asked for the depth now, while the consuming channel and the publisher open
    // (known before the first delivery: the progress bar's total), and whether the queue is empty at the end.
    const probe = new DepthProbe(connection, this.route.queue);
    const limit = this.options.limit;
    const depth = probe.ready().then((ready) => (ready === undefined ? null : limit > 0 ? Math.min(limit, ready) : ready));
    try {
      await this.drainRoute(connection, probe, depth);
    } finally {
      await probe.close();
      this.context.reporter.progress(null);
      // This route's own counts (per command and route in --metrics-file), failed or not.
      const own = Object.fromEntries(Object.entries(this.counts).map(([key, value]) => [key, value - this.before[key as keyof Counts]]));
      this.context.reporter.event({ event: 'route', command: this.options.command ?? this.options.type, route: this.route.queue, sink: this.route.sink, ...own });
    }
  }

  private async drainRoute(connection: ChannelModel, probe: DepthProbe, depth: Promise<number | null>): Promise<void> {
    const channel = await connection.createChannel();
    let closingOurselves = false;
    channel.on('error', (error: Error) => { this.brokerFailure = error; });
    channel.on('close', () => {
      // A close we did not ask for (broker restart, network loss): unacked messages went back to the queue.
      if (!closingOurselves) this.brokerFailure ??= new Error('the connection or channel was closed');
      this.inbox.close();
    });
    const publisher = await ConfirmPublisher.open(connection, { confirmTimeoutMs: this.context.config.amqp.confirmTimeoutMs });
    const router = new FailureRouter(publisher, this.route, this.context.config.amqp.maxAttempts);
    const consumer = new BoundedConsumer(channel, this.route.queue, {
      prefetch: this.options.prefetch,
      limit: this.options.limit,
      holdAll: this.options.dryRun,
    });
    const stopConsuming = () => { void consumer.stop().then(() => this.inbox.close()); };
    this.options.signal?.addEventListener('abort', stopConsuming, { once: true });
    try {
      // The depth before anything is consumed: the progress bar's total.
      this.total = await depth;
      await consumer.start((message) => {
        this.inbox.push(message);
        if (consumer.limitReached) stopConsuming();
      }, () => this.inbox.close());
      if (this.options.signal?.aborted) stopConsuming();
      let lastArrival = performance.now();
      // Batches being written, oldest first; each settles only after the one before it (acks in delivery order).
      const inFlight: Array<Promise<void>> = [];
      const maxInFlight = Math.max(1, this.sink?.batchesInFlight ?? 1);
      for (;;) {
        const idleLeft = Math.max(0, this.options.idleMs - (performance.now() - lastArrival));
        const stopWhenEmpty = !this.options.waitForMore && consumer.active;
        const batch = await this.inbox.take(this.options.batchSize, lingerMs, stopWhenEmpty ? Math.min(idleLeft, emptyCheckAfterMs) : idleLeft);
        if (batch.length > 0) {
          if (this.brokerFailure) throw brokerLost(this.route, this.brokerFailure);
          const processing = this.process(batch, router, consumer, inFlight.at(-1));
          // Awaited below, in order; until then a failure must not count as unhandled.
          processing.catch(() => undefined);
          inFlight.push(processing);
          if (inFlight.length >= maxInFlight) await inFlight.shift();
          lastArrival = performance.now();
          continue;
        }
        // Nothing new: every batch in hand is finished before the run looks at the queue or stops.
        while (inFlight.length > 0) await inFlight.shift();
        if (this.inbox.isClosed) break;
        const idleFor = performance.now() - lastArrival;
        if (idleFor < this.options.idleMs) {
          // Known to be empty: nothing of ours is pending and the broker holds no ready message. Whatever it
          // delivered before that answer arrives before cancel-ok, and is taken below like any other batch.
          // A dry run holds what it read: once its window is full, nothing more can come.
          const windowFull = this.options.dryRun && consumer.receivedCount >= consumer.prefetch;
          if (!stopWhenEmpty || !this.allHandled(consumer) || (!windowFull && (await probe.ready()) !== 0)) continue;
          this.context.reporter.debug(`${this.route.queue}: ${windowFull ? 'dry run window full' : 'empty'}, stopping`);
        } else {
          this.context.reporter.debug(`${this.route.queue}: nothing for ${this.options.idleMs} ms, stopping`);
        }
        stopConsuming();
        await consumer.stop();
      }
      this.context.reporter.progress(null);
      if (this.brokerFailure) throw brokerLost(this.route, this.brokerFailure);
      await consumer.stop();
    } finally {
      this.options.signal?.removeEventListener('abort', stopConsuming);
      // Closing the channel gives back whatever was not acked (a dry run's messages, or a failed batch).
      closingOurselves = true;
      await closeChannel(channel, this.context.config.amqp.confirmTimeoutMs);
      await publisher.close();
    }
  }

  /** `previous`: the batch before this one, still being written; this one is settled only after it. */
  private async process(batch: ConsumeMessage[], router: FailureRouter, consumer: BoundedConsumer, previous?: Promise<void>): Promise<void> {
    this.counts.read += batch.length;
    const parsed = batch.map((message) => parseEnvelope(message.content, this.route.type));
    const envelopes: Envelope[] = [];
    for (const result of parsed) if (result.ok) envelopes.push(result.envelope);
    const sinkResults = this.sink && envelopes.length > 0 ? await this.writeToSink(envelopes) : [];

    // Tallied as soon as the sink answered, before the batch before this one is awaited: if that one failed (a lost
    // connection), this batch is written but stays unacked, and comes again as `unchanged` after a reconnect.
    const failures: Array<{ message: ConsumeMessage; permanent: boolean; code: string; reason: string }> = [];
    let next = 0;
    batch.forEach((message, index) => {
      const result = parsed[index];
      if (!result.ok) {
        failures.push({ message, permanent: true, code: result.code, reason: result.reason });
        return;
      }
      if (!this.sink) return;
      const outcome = sinkResults[next++];
      if (outcome.status === 'retry' || outcome.status === 'fail') {
        failures.push({ message, permanent: outcome.status === 'fail', code: outcome.code ?? (outcome.status === 'fail' ? 'SINK_REJECTED' : 'SINK_TEMPORARY'), reason: outcome.reason });
      } else {
        this.counts[outcome.status]++;
      }
    });
    // A failure of the batch before stops this one here: its items are written, but stay unacked.
    await previous;

    if (this.options.dryRun) {
      this.handled += batch.length;
      this.counts.deadLettered += failures.length;
      for (const failure of failures) this.context.reporter.warn(`${this.route.queue}: ${failure.message.properties.messageId ?? '(no message-id)'} would be dead-lettered: ${failure.reason}`);
      return;
    }
    const routed = await Promise.all(failures.map(async (failure) => {
      const { destination, outgoing } = router.plan(failure.message, failure);
      return { destination, failure, outcome: await router.send(outgoing) };
    }));
    const unsent = new Map<ConsumeMessage, PublishOutcome & { ok: false }>();
    for (const { destination, failure, outcome } of routed) {
      if (!outcome.ok) { unsent.set(failure.message, outcome); continue; }
      if (destination === 'dlq') this.counts.deadLettered++;
      else this.counts.retried++;
      this.context.reporter.debug(`${this.route.queue}: ${failure.message.properties.messageId ?? '?'} → ${destination}: ${failure.reason}`);
    }
    if (unsent.size > 0) {
      // A confirmed copy is in .retry/.dlq: its original is acked, or it would come back as a duplicate.
      // An unconfirmed one's original is not, and returns to the queue when the channel closes. Cancelling
      // first lifts the --limit bound, so the written items are acked too rather than redelivered.
      await consumer.stop();
      consumer.settle(batch.filter((message) => !unsent.has(message)));
      throw publishError(unsent.values().next().value!);
    }
    if (this.brokerFailure) throw brokerLost(this.route, this.brokerFailure);
    consumer.settle(batch);
    this.handled += batch.length;
    this.context.reporter.event({ event: 'batch', queue: this.route.queue, size: batch.length, read: this.counts.read });
    const own = (key: keyof Counts) => this.counts[key] - this.before[key];
    this.context.reporter.progress({
      label: this.route.queue, done: own('read'), total: this.total, unit: 'messages',
      detail: `${own('written')} written, ${own('retried')} retried, ${own('deadLettered')} dead-lettered`,
    });
  }

  /** Every message delivered so far has been through its batch (settled, or looked at in a dry run). */
  private allHandled(consumer: BoundedConsumer): boolean {
    return this.inbox.size === 0 && this.handled === consumer.receivedCount;
  }

  private async writeToSink(envelopes: Envelope[]): Promise<SinkItemResult[]> {
    try {
      const results = await this.sink!.write(envelopes);
      if (results.length !== envelopes.length) throw new Error(`the ${this.sink!.name} sink returned ${results.length} results for ${envelopes.length} items`);
      return results;
    } catch (error) {
      if (error instanceof ExchangeError) throw error;
      const reason = (error as Error).message ?? String(error);
      return envelopes.map(() => ({ status: 'retry' as const, reason, code: 'SINK_ERROR' }));
    }
  }
}

/**
 * Asks the queue for its ready messages (a passive declare) on a channel of its own, opened on first use. A
 * failed declare (a deleted queue closes the channel) answers undefined: no progress total, and the run ends by
 * --idle-ms (a missing queue says so when the consumer starts).
 */
class DepthProbe {
  private channel?: Promise<Channel | undefined>;
  private failed = false;

  constructor(private readonly connection: ChannelModel, private readonly queue: string) {}

  async ready(): Promise<number | undefined> {
    if (this.failed) return undefined;
    this.channel ??= this.connection.createChannel().then((channel) => {
      channel.on('error', () => { this.failed = true; });
      return channel;
    }, () => undefined);
    const channel = await this.channel;
    if (!channel) { this.failed = true; return undefined; }
    try {
      return (await channel.checkQueue(this.queue)).messageCount;
    } catch {
      this.failed = true;
      return undefined;
    }
  }

  async close(): Promise<void> {
    const channel = await this.channel;
    if (channel && !this.failed) await channel.close().catch(() => undefined);
  }
}

/** RabbitMQ closed our channel or connection (not we): the drain may connect again. */
class ConnectionLost extends ExchangeError {}

function brokerLost(route: RouteTopology, cause: Error): ExchangeError {
  return new ConnectionLost('AMQP_UNAVAILABLE', `RabbitMQ closed the channel of ${route.queue}: ${cause.message}`, {
    hint: 'nothing was acked that was not written; unacked messages went back to the queue',
    cause,
  });
}

