import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { ExchangeError } from '../errors.js';
import { JobContext } from '../jobs/job-context.js';
import { isEntityType, type EntityType } from '../messages/entity-types.js';
import { createReporter, outputMode, type OutputMode } from './output.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  dryRun?: boolean;
}

/** Loads the config, opens a job context, runs the action, closes everything, records the exit code. */
export async function withContext(command: Command, action: (context: JobContext, mode: OutputMode, options: GlobalOptions & Record<string, unknown>) => Promise<number>): Promise<void> {
  const options = command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
  const mode = outputMode(options);
  const loaded = await loadConfig({ configPath: options.config });
  const context = new JobContext(loaded, createReporter(mode));
  try {
    process.exitCode = await action(context, mode, options);
  } finally {
    await context.close();
  }
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return Number(value);
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
