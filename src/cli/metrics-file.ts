import fs from 'node:fs';
import path from 'node:path';
import type { Gauge } from 'prom-client';
import { lazyModule } from '../lazy-module.js';
import type { Reporter } from '../jobs/reporter.js';
import { emptyCounts, type Counts, type Summary } from '../jobs/summary.js';

// Loaded when a file is written, not at start-up: only a run with --metrics-file writes one.
const promClient = lazyModule<typeof import('prom-client')>('prom-client');

/** The counts of DESIGN §2 as metric names: one gauge each, the value of the last run. */
const countGauges: Record<keyof Counts, { name: string; help: string }> = {
  read: { name: 'exchange_last_run_read', help: 'Messages or records the last run read.' },
  written: { name: 'exchange_last_run_written', help: 'Records the last run wrote to their sink.' },
  stale: { name: 'exchange_last_run_stale', help: 'Records the last run skipped because the sink holds a newer version.' },
  unchanged: { name: 'exchange_last_run_unchanged', help: 'Records the last run skipped because the sink holds the same content.' },
  retried: { name: 'exchange_last_run_retried', help: 'Messages the last run sent to the retry queue.' },
  deadLettered: { name: 'exchange_last_run_dead_lettered', help: 'Messages the last run sent to the dead-letter queue.' },
  published: { name: 'exchange_last_run_published', help: 'Events or messages the last run published to RabbitMQ.' },
};
const successGauge = 'exchange_last_success_timestamp_seconds';

interface RouteCounts extends Counts {
  command: string;
  route: string;
}

/**
 * `--metrics-file <path>`: the run's counters in Prometheus' text format (prom-client), for node_exporter's
 * textfile collector. Every cron line is its own process, so every command gets its own file (the collector
 * reads every *.prom of its folder); the file holds the last run only. It is written whole to a temporary
 * file in the same folder, then renamed over the old one: the collector never reads half a file, and the
 * temporary name does not end in .prom. A run that did not finish its work (exit code other than 0 or 1)
 * keeps the success time the file had, so "no success for an hour" can be alerted on.
 */
export class MetricsFile {
  private readonly routes: RouteCounts[] = [];
  private readonly startedAt = Date.now();

  constructor(private readonly file: string, private readonly fallbackCommand: string) {}

  /** The reporter the job gets: a drain's per-route counts ('route' events) are kept on their way through. */
  observe(reporter: Reporter): Reporter {
    return {
      ...reporter,
      event: (event) => {
        if (event.event === 'route' && typeof event.command === 'string' && typeof event.route === 'string') {
          this.routes.push({ command: event.command, route: event.route, ...pickCounts(event) });
        }
        reporter.event(event);
      },
    };
  }

  async write(summaries: Summary[], exitCode: number): Promise<void> {
    const now = Date.now();
    const { Gauge, Registry } = promClient();
    const registry = new Registry();
    const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers: [registry] });
    const counts = Object.fromEntries(Object.entries(countGauges).map(([key, { name, help }]) => [key, gauge(name, help, ['command', 'route'])])) as Record<keyof Counts, Gauge>;
    const duration = gauge('exchange_last_run_duration_seconds', 'How long the last run took.', ['command']);
    const exit = gauge('exchange_last_run_exit_code', 'Exit code of the last run: 0 done, 1 some items went to retry or the dlq, 69 a dependency down, 75 try later, 65/78 fix the input or the config.', ['command']);
    const finished = gauge('exchange_last_run_timestamp_seconds', 'When the last run ended (Unix time).', ['command']);
    const success = gauge(successGauge, 'When a run last finished its work, exit code 0 or 1 (Unix time); a failed run keeps the one before.', ['command']);

    // No summary: the run ended before its job began (bad config, a usage error found late): the command as typed.
    const runs = summaries.length > 0 ? summaries : [{ command: this.fallbackCommand, durationMs: now - this.startedAt, exitCode, ...emptyCounts() }];
    const previousSuccess = await this.previousSuccessTimes();
    for (const run of runs) {
      const routes = this.routes.filter((r) => r.command === run.command);
      for (const [key, metric] of Object.entries(counts) as [keyof Counts, Gauge][]) {
        if (routes.length === 0) metric.set({ command: run.command }, run[key]);
        for (const route of routes) metric.set({ command: run.command, route: route.route }, route[key]);
      }
      duration.set({ command: run.command }, run.durationMs / 1000);
      exit.set({ command: run.command }, run.exitCode);
      finished.set({ command: run.command }, now / 1000);
      const succeeded = run.exitCode === 0 || run.exitCode === 1;
      const lastSuccess = succeeded ? now / 1000 : previousSuccess.get(run.command);
      if (lastSuccess !== undefined) success.set({ command: run.command }, lastSuccess);
    }
    await this.replace(await registry.metrics());
  }

  private async replace(text: string): Promise<void> {
    const temporary = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    try {
      await fs.promises.writeFile(temporary, text);
      await fs.promises.rename(temporary, this.file);
    } catch (error) {
      await fs.promises.rm(temporary, { force: true });
      throw error;
    }
  }

  /** The success times the file holds from earlier runs; nothing when there is no file yet. */
  private async previousSuccessTimes(): Promise<Map<string, number>> {
    const times = new Map<string, number>();
    const text = await fs.promises.readFile(this.file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const match = /^exchange_last_success_timestamp_seconds\{(.*)\} (\S+)$/.exec(line);
      const command = match && /(?:^|,)command="((?:[^"\\]|\\.)*)"/.exec(match[1]);
      if (match && command && Number.isFinite(Number(match[2]))) times.set(command[1].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)), Number(match[2]));
    }
    return times;
  }
}

function pickCounts(event: Record<string, unknown>): Counts {
  const counts = emptyCounts();
  for (const key of Object.keys(counts) as (keyof Counts)[]) counts[key] = Number(event[key] ?? 0);
  return counts;
}
