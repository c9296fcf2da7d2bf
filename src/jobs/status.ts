import type { ChannelModel } from 'amqplib';
import { allRoutes } from '../amqp/topology.js';
import type { LockRow, RunRow } from '../recordstore/record-store.js';
import type { JobContext } from './job-context.js';

export interface QueueStatus {
  queue: string;
  ready: number | null;
  consumers: number | null;
  retry: number | null;
  dlq: number | null;
}

export interface StatusReport {
  queues: QueueStatus[];
  pendingOutbox: number;
  lastRuns: RunRow[];
  locks: LockRow[];
}

/**
 * Queue depths from passive declares (no management plugin needed). AMQP 0-9-1 reports ready messages
 * and consumers only; unacked counts need the management API and are not shown.
 */
export async function status(context: JobContext): Promise<StatusReport> {
  const connection = await context.connection();
  const queues: QueueStatus[] = [];
  for (const route of allRoutes(context.config)) {
    const work = await depth(connection, route.queue);
    queues.push({
      queue: route.queue,
      ready: work?.messageCount ?? null,
      consumers: work?.consumerCount ?? null,
      retry: (await depth(connection, route.retryQueue))?.messageCount ?? null,
      dlq: (await depth(connection, route.deadLetterQueue))?.messageCount ?? null,
    });
  }
  const store = await context.recordStore();
  return { queues, pendingOutbox: await store.countPendingOutbox(), lastRuns: await store.listRuns(10), locks: await store.heldLocks() };
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
