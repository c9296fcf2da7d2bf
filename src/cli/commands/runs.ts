import type { Command } from 'commander';
import { parsePositive, withContext } from '../command-runner.js';
import { printJson, printTable } from '../output.js';

export function registerRunsCommand(program: Command): void {
  program
    .command('runs')
    .description('the run journal: one row per run with its counts and error, newest first')
    .option('--limit <n>', 'how many runs', parsePositive, 20)
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { listRuns } = await import('../../jobs/records.js');
        const runs = await listRuns(context, options.limit as number);
        if (mode.json) runs.forEach((run) => printJson(run));
        else printTable(['id', 'command', 'started', 'status', 'read', 'written', 'retried', 'dlq', 'published', 'error'], runs.map((r) => [
          String(r.id), r.command, r.startedAt, r.status, String(r.counts?.read ?? ''), String(r.counts?.written ?? ''),
          String(r.counts?.retried ?? ''), String(r.counts?.deadLettered ?? ''), String(r.counts?.published ?? ''), r.error ?? '',
        ]));
        return 0;
      });
    });
}
