import chalk from 'chalk';
import { ExchangeError } from '../errors.js';
import { maskSecrets } from '../config/secrets.js';
import type { Reporter } from '../jobs/reporter.js';
import { ProgressBar } from './progress-bar.js';
import type { Summary } from '../jobs/summary.js';

export interface OutputMode {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  /** stdout is a terminal: tables and colour; otherwise cron-quiet. */
  tty: boolean;
}

export function outputMode(options: { json?: boolean; quiet?: boolean; verbose?: boolean }): OutputMode {
  return { json: Boolean(options.json), quiet: Boolean(options.quiet), verbose: Boolean(options.verbose), tty: Boolean(process.stdout.isTTY) };
}

export interface ReporterStreams {
  stdout: { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/**
 * Human lines go to stderr, so stdout carries only results (a number, JSON lines, a table on a terminal).
 * The progress bar needs both to be a terminal: `exchange user > log` or `| jq` gets none, nor does cron.
 */
export function createReporter(mode: OutputMode, streams: ReporterStreams = { stdout: process.stdout, stderr: process.stderr }): Reporter {
  const showProgress = Boolean(streams.stdout.isTTY) && Boolean(streams.stderr.isTTY) && !mode.quiet && !mode.json;
  const bar = showProgress ? new ProgressBar(streams.stderr) : undefined;
  const human = (line: string) => { bar?.clear(); streams.stderr.write(`${maskSecrets(line)}\n`); };
  return {
    progress: (update) => {
      if (!bar) return;
      if (update === null || update === '') { bar.finish(); return; }
      bar.update(typeof update === 'string' ? maskSecrets(update) : { ...update, label: maskSecrets(update.label) });
    },
    info: (message) => { if (!mode.quiet && !mode.json && (mode.tty || mode.verbose)) human(message); },
    debug: (message) => { if (mode.verbose && !mode.json) human(chalk.dim(message)); },
    warn: (message) => { if (!mode.quiet) human(chalk.yellow(`warning: ${message}`)); },
    event: (event) => { if (mode.json && mode.verbose) printJson(event); },
  };
}

let readerGone = false;

/**
 * A closed stdout (`exchange status | head -1`, a monitoring agent that stops reading) is the reader going
 * away, not a failure of the run: from then on results are dropped, the run finishes what it does and exits
 * with its own code. Without a listener, Node turns the EPIPE into an uncaught exception (exit 1, a stack).
 * A closed stderr is the same for diagnostics.
 */
export function treatClosedOutputAsReaderGone(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    readerGone = true;
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') process.stderr.write(`exchange: cannot write to stdout: ${error.message}\n`);
  });
  process.stderr.on('error', () => undefined);
}

/** True once stdout's reader has gone: nothing more is written there. */
export function stdoutGone(): boolean {
  return readerGone || process.stdout.destroyed;
}

export function printJson(value: unknown): void {
  if (stdoutGone()) return;
  process.stdout.write(`${maskSecrets(JSON.stringify(value))}\n`);
}

export function printLine(text: string): void {
  if (stdoutGone()) return;
  process.stdout.write(`${maskSecrets(text)}\n`);
}

/** One process is one run: what it reported, for --metrics-file. */
const summariesOfThisRun: Summary[] = [];

export function printedSummaries(): Summary[] {
  return [...summariesOfThisRun];
}

const summaryColumns = ['read', 'written', 'stale', 'unchanged', 'retried', 'deadLettered', 'published'] as const;

/** The end-of-run summary (DESIGN §2): a JSON line with --json, a table on a terminal, one stderr line for cron when it went wrong. */
export function printSummaries(mode: OutputMode, summaries: Summary[]): void {
  summariesOfThisRun.push(...summaries);
  if (mode.json) {
    for (const summary of summaries) printJson(summary);
    return;
  }
  if (mode.quiet) return;
  if (mode.tty || mode.verbose) {
    printTable(
      ['command', ...summaryColumns, 'ms', 'exit'],
      summaries.map((s) => [s.command, ...summaryColumns.map((c) => String(s[c])), String(s.durationMs), String(s.exitCode)]),
    );
    return;
  }
  for (const s of summaries.filter((summary) => summary.exitCode !== 0)) {
    process.stderr.write(`${s.command}: ${summaryColumns.map((c) => `${c}=${s[c]}`).join(' ')} exit=${s.exitCode}\n`);
  }
}

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  printLine(chalk.bold(line(headers)));
  for (const row of rows) printLine(line(row));
}

/** The one place errors become text: message, one line per detail, then what to do. */
export function printError(mode: OutputMode, error: unknown, exitCode: number): void {
  const message = maskSecrets(error instanceof Error ? error.message : String(error));
  const details = error instanceof ExchangeError ? error.details.map(maskSecrets) : [];
  const hint = error instanceof ExchangeError && error.hint ? maskSecrets(error.hint) : undefined;
  if (mode.json) {
    printJson({ event: 'error', code: error instanceof ExchangeError ? error.code : 'INTERNAL', message, details, hint, exitCode });
    const summary = (error as { summary?: Summary }).summary;
    if (summary) printJson(summary);
  }
  process.stderr.write(`${chalk.red('exchange:')} ${message}\n`);
  for (const detail of details) process.stderr.write(`${detail}\n`);
  if (hint) process.stderr.write(`${chalk.dim(`hint: ${hint}`)}\n`);
  if (mode.verbose) for (const line of traceLines(error)) process.stderr.write(`${maskSecrets(line)}\n`);
}

/**
 * What --verbose adds: the stack of an unexpected error (an ExchangeError's own stack says nothing the
 * message does not), then every cause with its stack. Stacks repeat messages, and causes are raw library
 * errors, so each line is masked like any other (a URL password, a registered secret).
 */
function traceLines(error: unknown): string[] {
  const lines: string[] = [];
  const describe = (value: unknown) => (value instanceof Error ? value.stack ?? `${value.name}: ${value.message}` : String(value));
  if (!(error instanceof ExchangeError) && error instanceof Error && error.stack) lines.push(...error.stack.split('\n'));
  const seen = new Set<unknown>([error]);
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && cause !== null && !seen.has(cause) && seen.size <= 10) {
    seen.add(cause);
    lines.push(...`caused by: ${describe(cause)}`.split('\n'));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return lines;
}
