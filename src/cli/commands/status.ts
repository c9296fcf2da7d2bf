import type { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { parseCount, withContext } from '../command-runner.js';
import { printJson, printLine, printTable } from '../output.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('a monitoring check: queue depths (ready, unacked with amqp.managementUrl, retry, dlq), consumers, pending outbox, last runs, held locks, synchronizations; exit 1 and a "problem:" line each when a dlq holds messages, an outbox event is too old, or the last run of a command failed or died (kill -9: no heartbeat for 2 minutes)')
    .option('--max-outbox-age <seconds>', 'a pending outbox event older than this is a problem (default: config status.maxOutboxAgeSeconds, 300)', parseCount)
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { status } = await import('../../jobs/status.js');
        const report = await status(context, { maxOutboxAgeSeconds: options.maxOutboxAge as number | undefined });
        const exitCode = report.problems.length > 0 ? ExitCode.partial : ExitCode.ok;
        if (mode.json) {
          printJson({ event: 'status', ...report, exitCode });
          return exitCode;
        }
        // The verdict first, so that `exchange status | head -1` (or a check that keeps the first line) says it;
        // --quiet keeps only the problems: silence in cron mail when all is well.
        for (const problem of report.problems) printLine(`problem: ${problem.message}`);
        if (mode.quiet) return exitCode;
        if (report.problems.length === 0) printLine(`ok: no dead letters, no outbox event older than ${report.maxOutboxAgeSeconds} s, no failed last run`);
        const show = (n: number | null) => (n === null ? 'missing' : String(n));
        const unacked = (q: (typeof report.queues)[number]) => (q.ready === null ? 'missing' : q.unacked === null ? '-' : String(q.unacked));
        printTable(['queue', 'ready', 'unacked', 'consumers', 'retry', 'dlq'], report.queues.map((q) => [q.queue, show(q.ready), unacked(q), show(q.consumers), show(q.retry), show(q.dlq)]));
        printLine(`outbox: ${report.pendingOutbox} pending${report.oldestPendingOutboxAt ? `, the oldest since ${report.oldestPendingOutboxAt} (${report.oldestPendingOutboxAgeSeconds} s): run \`exchange publish --outbox\`` : ''}`);
        for (const lock of report.locks) printLine(`lock ${lock.name}: held by ${lock.lockedBy} until ${lock.lockUntil}`);
        for (const sync of report.syncs) {
          printLine(`sync ${sync.name} (${sync.provider}): ${sync.enabled ? sync.status : `disabled, ${sync.status}`}, cursor ${sync.cursor ?? 'none'}${sync.finishedAt ? `, last finished ${sync.finishedAt}` : ''}${sync.error ? `: ${sync.error}` : ''}`);
        }
        for (const run of report.lastRuns.slice(0, 5)) printLine(`run ${run.id} ${run.command} ${run.startedAt} ${run.status}${run.error ? `: ${run.error}` : ''}`);
        return exitCode;
      });
    });
}
