import { ExitCode, type ExitCodeValue } from '../errors.js';

/** The counts every run reports (DESIGN §2): the same keys for every command, 0 where one does not apply. */
export interface Counts {
  read: number;
  written: number;
  stale: number;
  unchanged: number;
  retried: number;
  deadLettered: number;
  published: number;
}

export interface Summary extends Counts {
  event: 'summary';
  command: string;
  durationMs: number;
  exitCode: number;
  error?: string;
}

export function emptyCounts(): Counts {
  return { read: 0, written: 0, stale: 0, unchanged: 0, retried: 0, deadLettered: 0, published: 0 };
}

export function addCounts(target: Counts, source: Counts): Counts {
  for (const key of Object.keys(target) as (keyof Counts)[]) target[key] += source[key];
  return target;
}

/** 1 when anything went to retry or the dead-letter queue, or a record was refused (DESIGN §3). */
export function exitCodeForCounts(counts: Counts, refused = 0): ExitCodeValue {
  return counts.retried > 0 || counts.deadLettered > 0 || refused > 0 ? ExitCode.partial : ExitCode.ok;
}

export function makeSummary(command: string, counts: Counts, startedAt: number, exitCode: number, error?: string): Summary {
  return {
    event: 'summary', command, ...counts, durationMs: Date.now() - startedAt, exitCode,
    ...(error ? { error } : {}),
  };
}
