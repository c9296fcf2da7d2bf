import type { ChannelModel } from 'amqplib';
import { ManagementApi, type ManagedQueue } from '../amqp/management-api.js';
import { allRoutes } from '../amqp/topology.js';
import type { LockRow, RunRow } from '../recordstore/record-store.js';
import type { JobContext } from './job-context.js';

export interface QueueStatus {
  queue: string;
  ready: number | null;
  /** From the management API (amqp.managementUrl); null without it. */
  unacked: number | null;
  consumers: number | null;
  retry: number | null;
  dlq: number | null;
}

export interface StatusReport {
  queues: QueueStatus[];
  pendingOutbox: number;
  /** When the oldest pending event was written, and how long ago (seconds): null when nothing waits. */
  oldestPendingOutboxAt: string | null;
  oldestPendingOutboxAgeSeconds: number | null;
  lastRuns: RunRow[];
  locks: LockRow[];
}

/**
 * Queue depths from passive declares, which need nothing but AMQP (ready messages and consumers); with
 * amqp.managementUrl, unacked counts come from the management API too. A management API that does not
 * answer costs the unacked column only, with a warning.
 */
export async function status(context: JobContext): Promise<StatusReport> {
  const connection = await context.connection();
  const managed = await managedQueues(context);
  const queues: QueueStatus[] = [];
  for (const route of allRoutes(context.config)) {
    const work = await depth(connection, route.queue);
    queues.push({
      queue: route.queue,
      ready: work?.messageCount ?? null,
      unacked: work ? managed?.get(route.queue)?.unacked ?? null : null,
      consumers: work?.consumerCount ?? null,
      retry: (await depth(connection, route.retryQueue))?.messageCount ?? null,
      dlq: (await depth(connection, route.deadLetterQueue))?.messageCount ?? null,
    });
  }
  const store = await context.recordStore();
  const oldest = await store.oldestPendingOutbox();
  return {
    queues,
    pendingOutbox: await store.countPendingOutbox(),
    oldestPendingOutboxAt: oldest,
    oldestPendingOutboxAgeSeconds: oldest ? Math.max(0, Math.round((Date.now() - Date.parse(oldest)) / 1000)) : null,
    lastRuns: await store.listRuns(10),
    locks: await store.heldLocks(),
  };
}

async function managedQueues(context: JobContext): Promise<Map<string, ManagedQueue> | undefined> {
  const { managementUrl, url } = context.config.amqp;
  if (!managementUrl) return undefined;
  try {
    return await new ManagementApi(managementUrl, ManagementApi.vhostOf(url)).queues();
  } catch (error) {
    context.reporter.warn(`no unacked counts: the management API did not answer (${(error as Error).message})`);
    return undefined;
  }
}

async function depth(connection: ChannelModel, queue: string): Promise<{ messageCount: number; consumerCount: number } | undefined> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const reply = await channel.checkQueue(queue);
    await channel.close().catch(() => undefined);
    return reply;
  } catch {
    return undefined;
  }
}
