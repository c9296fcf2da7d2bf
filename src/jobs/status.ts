import type { ChannelModel } from 'amqplib';
import { ManagementApi, type ManagedQueue } from '../amqp/management-api.js';
import { allRoutes, type RouteTopology } from '../amqp/topology.js';
import type { LockRow, RunRow } from '../recordstore/record-store.js';
import { syncViews, type SyncView } from '../sync/sync-states.js';
import type { JobContext } from './job-context.js';
import { isGone, withGoneStatus } from './run-journal.js';

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
  /** The configured synchronizations as `exchange sync status` shows them (a failed one is also a failed run). */
  syncs: SyncView[];
  /** The outbox threshold this report was checked against (flag, else config `status.maxOutboxAgeSeconds`). */
  maxOutboxAgeSeconds: number;
  /** What a monitoring check alerts on; empty when nothing is stuck. */
  problems: StatusProblem[];
}

/** One thing a person has to look at, with a line that says what and what to run. */
export type StatusProblem =
  | { kind: 'dlq'; queue: string; count: number; message: string }
  | { kind: 'outbox'; pending: number; oldestAt: string; ageSeconds: number; message: string }
  | { kind: 'failed-run'; command: string; runId: number; startedAt: string; error: string | null; message: string }
  | { kind: 'gone-run'; command: string; runId: number; startedAt: string; owner: string | null; heartbeatAt: string; message: string };

export interface StatusOptions {
  /** Overrides config `status.maxOutboxAgeSeconds`. */
  maxOutboxAgeSeconds?: number;
}

/**
 * Queue depths from passive declares, which need nothing but AMQP (ready messages and consumers); with
 * amqp.managementUrl, unacked counts come from the management API too. A management API that does not
 * answer costs the unacked column only, with a warning.
 */
export async function status(context: JobContext, options: StatusOptions = {}): Promise<StatusReport> {
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
  const pendingOutbox = await store.countPendingOutbox();
  const maxOutboxAgeSeconds = options.maxOutboxAgeSeconds ?? context.config.status.maxOutboxAgeSeconds;
  const ageMs = oldest ? Math.max(0, Date.now() - Date.parse(oldest)) : null;
  const problems: StatusProblem[] = [
    ...deadLetterProblems(queues, allRoutes(context.config)),
    ...(oldest && ageMs !== null && pendingOutbox > 0 && ageMs > maxOutboxAgeSeconds * 1000 ? [outboxProblem(pendingOutbox, oldest, ageMs, maxOutboxAgeSeconds)] : []),
    ...lastRunProblems(await store.lastRunPerCommand()),
  ];
  return {
    queues,
    pendingOutbox,
    oldestPendingOutboxAt: oldest,
    oldestPendingOutboxAgeSeconds: ageMs === null ? null : Math.round(ageMs / 1000),
    lastRuns: (await store.listRuns(10)).map(withGoneStatus),
    locks: await store.heldLocks(),
    syncs: await syncViews(context),
    maxOutboxAgeSeconds,
    problems,
  };
}

function deadLetterProblems(queues: QueueStatus[], routes: RouteTopology[]): StatusProblem[] {
  const problems: StatusProblem[] = [];
  for (const route of routes) {
    const count = queues.find((q) => q.queue === route.queue)?.dlq ?? 0;
    if (!count) continue;
    // --sink only where the type has more than one route: replay-dlq needs it to pick the queue.
    const sink = routes.filter((r) => r.type === route.type).length > 1 ? ` --sink ${route.sink}` : '';
    problems.push({
      kind: 'dlq', queue: route.deadLetterQueue, count,
      message: `${route.deadLetterQueue} holds ${count} dead-lettered message${count === 1 ? '' : 's'}: see \`exchange replay-dlq ${route.type}${sink} --dry-run\``,
    });
  }
  return problems;
}

function outboxProblem(pending: number, oldestAt: string, ageMs: number, maxSeconds: number): StatusProblem {
  const ageSeconds = Math.round(ageMs / 1000);
  return {
    kind: 'outbox', pending, oldestAt, ageSeconds,
    message: `${pending} outbox event${pending === 1 ? '' : 's'} pending, the oldest for ${ageSeconds} s (more than ${maxSeconds} s): is RabbitMQ reachable? then run \`exchange publish --outbox\``,
  };
}

/**
 * Only the newest run of each command counts: a failure that a later run of the same command got past is
 * history. A run that failed says why; one whose process died (kill -9, out of memory, a power loss) could not, and
 * is told by its heartbeat.
 */
function lastRunProblems(lastRuns: RunRow[]): StatusProblem[] {
  const problems: StatusProblem[] = [];
  for (const run of lastRuns) {
    if (run.status === 'failed') {
      problems.push({
        kind: 'failed-run', command: run.command, runId: run.id, startedAt: run.startedAt, error: run.error,
        message: `the last ${run.command} run (#${run.id}, ${run.startedAt}) failed${run.error ? `: ${run.error.replace(/\s*\n\s*/g, ' ')}` : ''}`,
      });
    } else if (isGone(run)) {
      problems.push({
        kind: 'gone-run', command: run.command, runId: run.id, startedAt: run.startedAt, owner: run.owner, heartbeatAt: run.heartbeatAt!,
        message: `the last ${run.command} run (#${run.id}, ${run.startedAt}${run.owner ? `, ${run.owner}` : ''}) died without finishing: `
          + `no sign of life since ${run.heartbeatAt} (killed, out of memory, the machine down?); what it had not acked went back to its queue. Look at that host's log`,
      });
    }
  }
  return problems;
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
