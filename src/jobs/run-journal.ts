import { ExchangeError, exitCodeOf } from '../errors.js';
import { processOwner } from '../recordstore/lock-owner.js';
import type { RunRow } from '../recordstore/record-store.js';
import { maskSecrets } from '../config/secrets.js';
import type { JobContext } from './job-context.js';
import { emptyCounts, exitCodeForCounts, makeSummary, type Counts, type Summary } from './summary.js';

/** How often a run in progress marks its row alive. */
export const runHeartbeatMs = 30_000;
/** A running row without a sign of life for this long belongs to a process that died (kill -9, OOM, power loss). */
export const runGoneAfterMs = 4 * runHeartbeatMs;

/** The row says running, but its process has not marked it alive for runGoneAfterMs: it died without closing it. */
export function isGone(run: RunRow, now = Date.now()): boolean {
  return run.status === 'running' && run.heartbeatAt !== null && now - Date.parse(run.heartbeatAt) > runGoneAfterMs;
}

/** The row as `runs` and `status` show it: `gone` instead of `running` once its process is known dead. */
export function withGoneStatus(run: RunRow): RunRow {
  return isGone(run) ? { ...run, status: 'gone' } : run;
}

export interface JournaledResult {
  counts: Counts;
  /** Overrides the exit code derived from the counts (e.g. records refused by the store). */
  exitCode?: number;
}

/**
 * Runs a job with a row in the run journal (DESIGN §7 `runs`): the row is opened before the work
 * and closed with the summary, also when the job throws. A journal that cannot be written never
 * hides the job's own outcome.
 */
export async function journaled(context: JobContext, command: string, work: (counts: Counts) => Promise<JournaledResult | void>): Promise<Summary> {
  const startedAt = Date.now();
  const store = await context.recordStore();
  const runId = await store.startRun(command, processOwner());
  // A missed beat (the store busy for a moment) is no reason to stop the work: the next one comes.
  const heartbeat = setInterval(() => { store.heartbeatRun(runId).catch(() => undefined); }, runHeartbeatMs);
  heartbeat.unref();
  const counts = emptyCounts();
  try {
    const result = await work(counts);
    const exitCode = result?.exitCode ?? exitCodeForCounts(counts);
    const summary = makeSummary(command, counts, startedAt, exitCode);
    await store.finishRun(runId, exitCode === 0 ? 'ok' : 'partial', summaryCounts(summary), null).catch((error) => context.reporter.warn(`could not close the run journal row: ${error.message}`));
    return summary;
  } catch (error) {
    const message = maskSecrets((error as Error).message ?? String(error));
    const summary = makeSummary(command, counts, startedAt, exitCodeOf(error), message);
    await store.finishRun(runId, 'failed', summaryCounts(summary), message).catch(() => undefined);
    if (error instanceof ExchangeError) (error as ExchangeError & { summary?: Summary }).summary = summary;
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

function summaryCounts(summary: Summary): Record<string, number> {
  const { read, written, stale, unchanged, retried, deadLettered, published, durationMs, exitCode } = summary;
  return { read, written, stale, unchanged, retried, deadLettered, published, durationMs, exitCode };
}
