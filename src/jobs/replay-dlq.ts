import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { closeChannel } from '../amqp/connect.js';
import { brokerReason } from '../amqp/declare-topology.js';
import { copyOptions, Header, numberHeader, republishOptions } from '../amqp/failure-headers.js';
import { ConfirmPublisher, publishError, type Outgoing, type PublishOutcome } from '../amqp/publisher.js';
import { requireRoutes, type RouteTopology } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import { deadLetterView, type DeadLetterView } from './dead-letter-view.js';
import { InspectedMessage, parseDlqFilter, type DlqFilter } from './dlq-filter.js';
import { takeLock } from './exclusive-lock.js';
import { Inbox } from './inbox.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import type { Counts, Summary } from './summary.js';

export interface ReplayOptions {
  type: EntityType;
  sink?: string;
  /** Most messages to move (replay or discard) over all routes; 0 = all that match. */
  limit: number;
  dryRun: boolean;
  /** See parseDlqFilter; all must match. None: every message matches. */
  filters: string[];
  /** Replay into this queue (it must exist) instead of each route's work queue. */
  to?: string;
  /** Drop the matches instead of replaying them. */
  discard: boolean;
  /** The operator confirmed a discard (--yes); a discard without it is refused, never prompted for. */
  confirmed: boolean;
  /** How long the queue may send nothing before a scan ends short (someone else took messages meanwhile). */
  idleMs: number;
  prefetch: number;
  /** SIGINT/SIGTERM: stop reading, settle and ack what is in hand, exit 75. */
  signal?: AbortSignal;
}

export type ReplayAction = 'listed' | 'replayed' | 'discarded';

export interface ReplayHooks {
  /** A match: listed (dry run), or replayed / discarded once that is settled (confirmed, acked). */
  onMessage(message: DeadLetterView & { action: ReplayAction; target?: string }): void;
  /** One dead-letter queue done. */
  onQueue(outcome: QueueOutcome): void;
}

export interface QueueOutcome {
  queue: string;
  /** Messages the queue held when the scan started (the declare's count). */
  held: number;
  scanned: number;
  matched: number;
  replayed: number;
  discarded: number;
  target?: string;
  dryRun: boolean;
}

/**
 * `replay-dlq` (DESIGN §5, issue 10): one scan over each dead-letter queue, each message either moved (replayed to
 * the work queue or --to, or discarded) or put back at the tail of the same dlq.
 *
 * Why put back at the tail rather than return (nack/requeue, or a channel close that gives unacked messages back):
 * - a returned message is not where it was: a quorum queue on 3.10 gives returns back in no particular order;
 * - on RabbitMQ 4.x (before 4.3) a quorum queue counts every return against `x-delivery-limit`, 20 by default,
 *   and past it dead-letters the message; a dlq has no dead-letter target, so there it would be dropped. A dry
 *   run repeated at night, or `--limit 10` run twenty times, would silently empty the head of the dlq.
 * - the other way out, declaring the dlq with no delivery limit (`x-delivery-limit: -1`), is 4.x only (3.10's
 *   quorum queues take no "unlimited" value) and cannot be added to an existing queue: the broker keeps a queue's
 *   arguments for life, so every installed dlq would fail `setup --check` (a policy could, but the tool does not
 *   own the operators' policies).
 * So every scanned message that is not moved is republished (with confirms) to the tail of its own dlq, and its
 * original acked only after the copy is confirmed. Scanning exactly the count the queue held at the start (the
 * passive declare's messageCount) visits every original once and no copy, and since the copies go to the tail in
 * scan order, the messages that stay are in the same order as before: a dry run leaves the queue as it was.
 * Messages dead-lettered during the scan land at the tail among the copies.
 *
 * The broker must not deliver past that count (it would be a copy, and it could only go back by a return): with
 * a prefetch window W, it delivers at most `acked + W`, so acks are held at `count - W` until the last original
 * has arrived and the consumer is cancelled, then the rest are acked.
 *
 * Without a filter, a real run moves every message it reads, so it reads only `--limit` of them. With a filter it
 * always scans the whole queue, also when the limit is reached early: stopping there would leave the unscanned
 * messages in front of the copies.
 *
 * A failed publish stops the scan (exit 69): the originals whose copies were confirmed are acked, the others go
 * back to the dlq. Such an interrupted scan keeps every message but may leave the queue rotated (the copies behind
 * the unscanned rest), and a connection lost between a confirm and its ack leaves one message twice.
 */
export async function replayDeadLetters(context: JobContext, options: ReplayOptions, hooks: ReplayHooks): Promise<Summary> {
  const filters = options.filters.map(parseDlqFilter);
  if (options.discard && options.to) throw new ExchangeError('USAGE', '--discard and --to exclude each other', { hint: '--discard drops the matches, --to replays them into another queue' });
  if (options.discard && !options.confirmed && !options.dryRun) {
    throw new ExchangeError('USAGE', '--discard drops the matching messages for good and needs --yes', {
      hint: 'look first with `--dry-run` (`--json` to keep a copy of what would be dropped), then add --yes',
    });
  }
  const routes = requireRoutes(context.config, options.type, options.sink);
  return journaled(context, 'replay-dlq', async (counts) => {
    const connection = await context.connection();
    if (options.to && !(await inspectQueue(connection, options.to))) {
      throw new ExchangeError('CONFIG', `the --to queue "${options.to}" does not exist`, {
        hint: 'name an existing queue (its full name, tenant prefix included); replay-dlq never declares one',
      });
    }
    let budget = options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
    for (const route of routes) {
      if (budget <= 0) break;
      // The counts go up as the scan goes, so that a run that stops half-way reports what it did.
      const outcome = await scanQueue(context, connection, route, options, filters, budget, hooks, counts);
      budget -= options.dryRun ? outcome.matched : outcome.replayed + outcome.discarded;
      hooks.onQueue(outcome);
    }
  });
}

async function scanQueue(
  context: JobContext, connection: ChannelModel, route: RouteTopology, options: ReplayOptions, filters: DlqFilter[], budget: number, hooks: ReplayHooks, counts: Counts,
): Promise<QueueOutcome> {
  const dlq = route.deadLetterQueue;
  const target = options.to ?? route.queue;
  const state = await inspectQueue(connection, dlq);
  if (!state) throw new ExchangeError('CONFIG', `the dead-letter queue "${dlq}" does not exist`, { hint: 'run `exchange setup`' });
  if (state.consumerCount > 0) {
    // A quorum queue ignores an exclusive consume, so a second reader would be seen only here: it would take
    // messages out of our count and out of order.
    throw new ExchangeError('LOCKED', `${dlq} has ${state.consumerCount} consumer(s): another replay-dlq, or a client reading the dlq; nothing was moved`, {
      hint: 'try again when it is done (`exchange status` shows consumers)',
    });
  }
  const outcome: QueueOutcome = { queue: dlq, held: state.messageCount, scanned: 0, matched: 0, replayed: 0, discarded: 0, dryRun: options.dryRun, ...(options.discard ? {} : { target }) };
  const movesAll = filters.length === 0 && !options.dryRun;
  const count = movesAll ? Math.min(state.messageCount, budget) : state.messageCount;
  if (count === 0) return outcome;

  const store = await context.recordStore();
  const lock = await takeLock(store, `replay-dlq:${dlq}`, context.config.drain.lockAtMostForMs, context.reporter);
  try {
    return await scanLocked(context, connection, dlq, target, count, options, filters, budget, hooks, outcome, counts);
  } finally {
    await lock.release();
  }
}

async function scanLocked(
  context: JobContext, connection: ChannelModel, dlq: string, target: string, count: number,
  options: ReplayOptions, filters: DlqFilter[], budget: number, hooks: ReplayHooks, outcome: QueueOutcome, counts: Counts,
): Promise<QueueOutcome> {
  const window = Math.min(options.prefetch, count);
  const channel = await connection.createChannel();
  let lost: Error | undefined;
  let closingOurselves = false;
  const inbox = new Inbox<ConsumeMessage>();
  channel.on('error', (error: Error) => { lost ??= error; });
  channel.on('close', () => {
    if (!closingOurselves) lost ??= new Error('the connection or channel was closed');
    inbox.close();
  });
  const publisher = await ConfirmPublisher.open(connection, { confirmTimeoutMs: context.config.amqp.confirmTimeoutMs, window }).catch(async (error: unknown) => {
    closingOurselves = true;
    await closeChannel(channel, context.config.amqp.confirmTimeoutMs);
    throw error;
  });

  // Below `count - window` acked, the broker can still deliver only originals (see above); past the cancel, anything goes.
  const acks = new OrderedAcks(channel, count - window);
  const inFlight = new Set<Promise<void>>();
  let failure: (PublishOutcome & { ok: false }) | undefined;
  const send = (delivery: Delivery, outgoing: Outgoing, settled: () => void) => {
    const done = publisher.send(outgoing).then((result) => {
      if (!result.ok) { failure ??= result; return; }
      settled();
      acks.settle(delivery);
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };

  let replaying = 0;
  const wake = () => inbox.close();
  let consumerTag: string | undefined;
  let short = false;
  let extra = 0;
  try {
    await channel.prefetch(window);
    ({ consumerTag } = await channel.consume(dlq, (message) => (message ? inbox.push(message) : inbox.close())));
    options.signal?.addEventListener('abort', wake, { once: true });
    while (outcome.scanned < count && !failure && !lost && !options.signal?.aborted) {
      const batch = await inbox.take(window, 0, options.idleMs);
      if (batch.length === 0) {
        if (inbox.isClosed || failure || lost) break;
        // Nothing came although the count says more: someone else took messages meanwhile.
        if (inFlight.size === 0) { short = true; break; }
        continue;
      }
      for (const message of batch) {
        if (options.signal?.aborted) break;
        if (outcome.scanned >= count) { extra++; continue; } // never expected: left unacked, it goes back on close
        outcome.scanned++;
        counts.read++;
        const delivery = acks.delivered(message);
        const inspected = new InspectedMessage(message);
        // Replays sent but not yet confirmed count against the limit, so a window never overshoots it; a dry run
        // lists what a real run would move.
        const taken = options.dryRun ? outcome.matched : outcome.replayed + outcome.discarded + replaying;
        const matches = taken < budget && filters.every((filter) => filter(inspected));
        await publisher.ready();
        if (failure || lost) break;
        if (!matches || options.dryRun) {
          if (matches) {
            outcome.matched++;
            hooks.onMessage({ ...deadLetterView(dlq, inspected), action: 'listed', ...(options.discard ? {} : { target }) });
          }
          send(delivery, { exchange: '', routingKey: dlq, body: message.content, options: copyOptions(message) }, () => undefined);
        } else if (options.discard) {
          outcome.matched++;
          outcome.discarded++;
          hooks.onMessage({ ...deadLetterView(dlq, inspected), action: 'discarded' });
          acks.settle(delivery);
        } else {
          outcome.matched++;
          replaying++;
          const headers = { [Header.attempts]: 0, [Header.replays]: numberHeader(message, Header.replays) + 1 };
          send(delivery, { exchange: '', routingKey: target, body: message.content, options: republishOptions(message, headers) }, () => {
            replaying--;
            outcome.replayed++;
            counts.published++;
            hooks.onMessage({ ...deadLetterView(dlq, inspected), action: 'replayed', target });
          });
        }
      }
      context.reporter.progress({ label: dlq, done: outcome.scanned, total: count, unit: 'messages', detail: `${outcome.matched} matched` });
    }
    if (consumerTag !== undefined && !lost) await channel.cancel(consumerTag).catch((error: Error) => { lost ??= error; });
    await Promise.all([...inFlight]);
    if (!lost) await acks.finish();
    context.reporter.progress(null);
    if (failure) throw publishError(failure);
    if (lost) throw dlqLost(dlq, lost);
    if (options.signal?.aborted) {
      throw new ExchangeError('INTERRUPTED', `interrupted after ${outcome.scanned} of the ${count} messages of ${dlq} (${outcome.replayed} replayed, ${outcome.discarded} discarded)`, {
        hint: 'nothing was lost: the messages read and not moved were put back at the tail, behind the unread ones (the dlq is rotated); run again to go on',
      });
    }
    if (short) context.reporter.warn(`${dlq}: scanned ${outcome.scanned} of the ${count} messages it held at the start; the others were taken by someone else meanwhile`);
    if (extra > 0) context.reporter.warn(`${dlq}: the broker delivered ${extra} message(s) past the scan; they went back to the queue`);
    return outcome;
  } finally {
    options.signal?.removeEventListener('abort', wake);
    closingOurselves = true;
    // Unacked messages (only after a failure) go back to the dlq when the channel closes.
    await closeChannel(channel, context.config.amqp.confirmTimeoutMs);
    await publisher.close();
  }
}

interface Delivery { message: ConsumeMessage; settled: boolean }

/**
 * Acks in delivery order, as few frames as possible: one `multiple` ack up to the newest delivery whose whole
 * prefix is settled, once per turn of the event loop. Few frames matter on a quorum queue: RabbitMQ 3.10's channel
 * keeps only a few dozen settle commands in flight to the queue and holds the rest back, and a channel closed
 * meanwhile drops those, so the broker gives the messages back although we acked them (seen here: 466 of 500 single
 * acks sent just before a close came back). Until `finish`, at most `ceiling` messages are acked, so that the
 * broker never delivers past the scan.
 */
class OrderedAcks {
  private readonly pending: Delivery[] = [];
  private head = 0;
  private acked = 0;
  private finished = false;
  private scheduled = false;

  constructor(private readonly channel: Channel, private readonly ceiling: number) {}

  delivered(message: ConsumeMessage): Delivery {
    const delivery = { message, settled: false };
    this.pending.push(delivery);
    return delivery;
  }

  /** Its copy is confirmed, or it is to be dropped: ack it when its turn comes. */
  settle(delivery: Delivery): void {
    delivery.settled = true;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => { this.scheduled = false; this.flush(); });
  }

  /**
   * After the consumer's cancel and every publish settled: acks what is settled (exactly those, also past an
   * unsettled one after a failure), then waits for a round trip so that the channel has passed the acks on
   * before it is closed.
   */
  async finish(): Promise<void> {
    this.finished = true;
    this.flush();
    for (let i = this.head; i < this.pending.length; i++) if (this.pending[i].settled) this.channel.ack(this.pending[i].message);
    await this.channel.prefetch(1);
  }

  private flush(): void {
    let last: Delivery | undefined;
    while (this.head < this.pending.length && this.pending[this.head].settled && (this.finished || this.acked < this.ceiling)) {
      last = this.pending[this.head++];
      this.acked++;
    }
    // A channel that is gone gives every unacked message back anyway; the scan reports the loss.
    if (last) try { this.channel.ack(last.message, true); } catch { /* closed meanwhile */ }
    if (this.head > 4096) { this.pending.splice(0, this.head); this.head = 0; }
  }
}

/** A passive declare on a throw-away channel: undefined when the queue does not exist. */
async function inspectQueue(connection: ChannelModel, name: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const { messageCount, consumerCount } = await channel.checkQueue(name);
    await channel.close().catch(() => undefined);
    return { messageCount, consumerCount };
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw new ExchangeError('AMQP_UNAVAILABLE', `could not inspect queue ${name}: ${brokerReason(error)}`, { cause: error });
  }
}

function dlqLost(dlq: string, cause: Error): ExchangeError {
  return new ExchangeError('AMQP_UNAVAILABLE', `RabbitMQ closed the channel of ${dlq}: ${cause.message}`, {
    hint: 'every message is still in the dlq or moved: unacked ones went back (maybe not in their old place), and one moved just before may be in both; run again later',
    cause,
  });
}
