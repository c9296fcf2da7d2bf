import type { Channel, ChannelModel } from 'amqplib';
import { brokerReason } from '../amqp/declare-topology.js';
import { allRoutes } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import type { JobContext } from './job-context.js';

export interface TeardownItem {
  kind: 'exchange' | 'queue';
  name: string;
  /** False when the broker does not have it (nothing to delete). */
  exists: boolean;
  /** Ready messages (queues only). */
  messages: number;
  /** Consumers attached now (queues only): a drain holding unacked messages. */
  consumers: number;
}

export interface TeardownOptions {
  /** The operator's consent; without it the command lists and refuses (never a prompt: cron has no terminal). */
  yes: boolean;
  /** Delete queues that hold messages or have consumers too: those messages are lost. */
  force: boolean;
  /** List what would be deleted, delete nothing. */
  dryRun: boolean;
}

export interface TeardownResult {
  items: TeardownItem[];
  deleted: TeardownItem[];
}

/**
 * `exchange teardown` (DESIGN §2): deletes the exchanges and queues of every configured route of the tenant
 * (work queue, `.retry`, `.dlq`, the type exchanges). A queue that holds messages or has a consumer is the
 * operator's data: without --force nothing is deleted while any does. Exchanges go first, so nothing more is
 * routed into the queues, and each queue is counted again just before it is deleted.
 */
export async function teardown(context: JobContext, options: TeardownOptions): Promise<TeardownResult> {
  const connection = await context.connection();
  const items = await inventory(connection, context);
  const present = items.filter((item) => item.exists);
  if (options.dryRun) return { items, deleted: [] };
  const tenant = context.config.tenant ? `tenant ${context.config.tenant}` : 'no tenant (unprefixed names)';
  if (!options.yes) {
    throw new ExchangeError('USAGE', `teardown deletes ${present.length} exchanges and queues of ${tenant}: it needs --yes`, {
      hint: 'look at the list (also `exchange teardown --dry-run`), then run `exchange teardown --yes`',
      details: present.map(describeItem),
    });
  }
  const busy = present.filter(inUse);
  if (busy.length > 0 && !options.force) throw refusal(busy, tenant);

  const deleted: TeardownItem[] = [];
  const channel = await openChannel(connection);
  try {
    for (const item of present.filter((i) => i.kind === 'exchange')) {
      await run(channel, (ch) => ch.deleteExchange(item.name), `exchange ${item.name}`);
      deleted.push(item);
    }
    for (const item of present.filter((i) => i.kind === 'queue')) {
      // Counted again now that no exchange routes into it: a message that arrived since the listing counts.
      const now = await queueState(connection, item.name);
      if (!now.exists) continue;
      if (inUse(now) && !options.force) throw refusal([now], tenant, deleted);
      await run(channel, (ch) => ch.deleteQueue(item.name), `queue ${item.name}`);
      deleted.push(now);
    }
  } finally {
    await channel.close().catch(() => undefined);
  }
  return { items, deleted };
}

/** `queue t.user.records (3 messages, 1 consumer)` */
export function describeItem(item: TeardownItem): string {
  if (item.kind === 'exchange') return `exchange ${item.name}`;
  const consumers = item.consumers > 0 ? `, ${item.consumers} consumer${item.consumers === 1 ? '' : 's'}` : '';
  return `queue ${item.name} (${item.messages} message${item.messages === 1 ? '' : 's'}${consumers})`;
}

function inUse(item: TeardownItem): boolean {
  return item.kind === 'queue' && (item.messages > 0 || item.consumers > 0);
}

function refusal(busy: TeardownItem[], tenant: string, deleted: TeardownItem[] = []): ExchangeError {
  const already = deleted.length > 0 ? ` (${deleted.length} already deleted; \`exchange setup\` declares them again)` : '';
  return new ExchangeError('USAGE', `teardown refused: ${busy.length} queue${busy.length === 1 ? '' : 's'} of ${tenant} hold messages or have consumers${already}`, {
    hint: 'drain them, replay or discard the dlq, stop the drains; or run with --force to delete them with their messages',
    details: busy.map(describeItem),
  });
}

/** Names from the configured routes: what `setup` declares is exactly what teardown deletes. */
async function inventory(connection: ChannelModel, context: JobContext): Promise<TeardownItem[]> {
  const routes = allRoutes(context.config);
  const items: TeardownItem[] = [];
  for (const exchange of new Set(routes.map((route) => route.exchange))) {
    const exists = await passive(connection, (ch) => ch.checkExchange(exchange));
    items.push({ kind: 'exchange', name: exchange, exists, messages: 0, consumers: 0 });
  }
  for (const route of routes) {
    for (const queue of [route.queue, route.retryQueue, route.deadLetterQueue]) items.push(await queueState(connection, queue));
  }
  return items;
}

async function queueState(connection: ChannelModel, name: string): Promise<TeardownItem> {
  let state = { messageCount: 0, consumerCount: 0 };
  const exists = await passive(connection, async (ch) => { state = await ch.checkQueue(name); });
  return { kind: 'queue', name, exists, messages: state.messageCount, consumers: state.consumerCount };
}

/** A passive check on a throw-away channel: the broker closes the channel when the thing does not exist. */
async function passive(connection: ChannelModel, operation: (channel: Channel) => Promise<unknown>): Promise<boolean> {
  const channel = await openChannel(connection);
  try {
    await operation(channel);
    return true;
  } catch (error) {
    if (/NOT_FOUND/.test((error as Error).message ?? '')) return false;
    throw brokerError(error, 'cannot list the topology');
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function openChannel(connection: ChannelModel): Promise<Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  return channel;
}

async function run(channel: Channel, operation: (channel: Channel) => Promise<unknown>, what: string): Promise<void> {
  try {
    await operation(channel);
  } catch (error) {
    throw brokerError(error, `cannot delete ${what}`);
  }
}

function brokerError(error: unknown, what: string): ExchangeError {
  return new ExchangeError('AMQP_UNAVAILABLE', `${what}: ${brokerReason(error)}`, { hint: 'check the user\'s configure permission on the vhost, then run it again', cause: error });
}
