import type { CliResult } from './cli.js';
import { waitFor } from './chaos.js';

export interface DrainRuns {
  /** The summaries' counts added up over every run. */
  totals: Record<'read' | 'written' | 'stale' | 'unchanged' | 'retried' | 'deadLettered', number>;
  runs: CliResult[];
}

/**
 * Runs a drain again until `settled` holds (its retried messages are back from `.retry` and done), with a
 * deadline, and adds up the runs' counts. Whether a retry round trip fits one run's idle window is the broker's
 * timing, not a promise of the tool: a test that needs "retried once and then written" checks the totals.
 */
export async function drainUntil(run: () => Promise<CliResult>, settled: () => Promise<boolean>, timeoutMs = 60_000): Promise<DrainRuns> {
  const totals: DrainRuns['totals'] = { read: 0, written: 0, stale: 0, unchanged: 0, retried: 0, deadLettered: 0 };
  const runs: CliResult[] = [];
  await waitFor('the drain to settle', async () => {
    const result = await run();
    runs.push(result);
    if (!result.summary) throw new Error(`the drain printed no summary (exit ${result.code}): ${result.stderr}`);
    for (const key of Object.keys(totals) as Array<keyof DrainRuns['totals']>) totals[key] += Number(result.summary[key] ?? 0);
    return settled();
  }, timeoutMs, 0);
  return { totals, runs };
}
