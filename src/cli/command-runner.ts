import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { maskSecrets } from '../config/secrets.js';
import { ExchangeError, exitCodeOf } from '../errors.js';
import { JobContext } from '../jobs/job-context.js';
import { isEntityType, type EntityType } from '../messages/entity-types.js';
import type { Summary } from '../jobs/summary.js';
import { MetricsFile } from './metrics-file.js';
import { createReporter, outputMode, printedSummaries, type OutputMode } from './output.js';

export interface GlobalOptions {
  config?: string;
  metricsFile?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  dryRun?: boolean;
}

/**
 * Loads the config, opens a job context, runs the action, closes everything, records the exit code; with
 * --metrics-file, leaves the run's metrics there whatever the outcome (a failed run's summary rides on its error).
 */
export async function withContext(command: Command, action: (context: JobContext, mode: OutputMode, options: GlobalOptions & Record<string, unknown>) => Promise<number>): Promise<void> {
  const options = command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
  const mode = outputMode(options);
  const metrics = options.metricsFile ? new MetricsFile(options.metricsFile, commandPath(command)) : undefined;
  let exitCode: number;
  try {
    const loaded = await loadConfig({ configPath: options.config });
    const reporter = createReporter(mode);
    const context = new JobContext(loaded, metrics ? metrics.observe(reporter) : reporter);
    try {
      exitCode = await action(context, mode, options);
      process.exitCode = exitCode;
    } finally {
      await context.close();
    }
  } catch (error) {
    const summary = (error as { summary?: Summary }).summary;
    await writeMetrics(metrics, [...new Set([...printedSummaries(), ...(summary ? [summary] : [])])], exitCodeOf(error));
    throw error;
  }
  await writeMetrics(metrics, printedSummaries(), exitCode);
}

/** A metrics file that cannot be written is said on stderr (cron mails it); the run's own outcome stands. */
async function writeMetrics(metrics: MetricsFile | undefined, summaries: Summary[], exitCode: number): Promise<void> {
  await metrics?.write(summaries, exitCode).catch((error: Error) => {
    process.stderr.write(`exchange: warning: could not write the metrics file: ${maskSecrets(error.message)}\n`);
  });
}

/** The command as typed, without the program: `user`, `records get`, `sync status`. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return Number(value);
}

/** A whole number within the range its config key allows: outside it, commander exits 64 naming the flag. */
export function parseInRange(min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return Number(value);
  };
}

export function parsePositive(value: string): number {
  const parsed = parseCount(value);
  if (parsed === 0) throw new InvalidArgumentError('must be ≥ 1');
  return parsed;
}

export function parseType(value: string): EntityType {
  if (!isEntityType(value)) throw new ExchangeError('USAGE', `unknown type "${value}"`, { hint: 'use user, product or mutualsettlements' });
  return value;
}

/** SIGINT/SIGTERM abort the signal: the work in hand is finished and acked; a second signal exits at once. */
export function shutdownSignal(what = 'finishing the batch in hand'): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`exchange: second ${name}, exiting now; unacked messages return to their queue\n`);
      process.exit(130);
    }
    process.stderr.write(`exchange: ${name} received, ${what}\n`);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
