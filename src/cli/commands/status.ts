import type { Command } from 'commander';
import { withContext } from '../command-runner.js';
import { printJson, printLine, printTable } from '../output.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('queue depths (ready, unacked with amqp.managementUrl, retry, dlq), consumers, pending outbox, last runs, held locks')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { status } = await import('../../jobs/status.js');
        const report = await status(context);
        if (mode.json) {
          printJson({ event: 'status', ...report });
          return 0;
        }
        const show = (n: number | null) => (n === null ? 'missing' : String(n));
        const unacked = (q: (typeof report.queues)[number]) => (q.ready === null ? 'missing' : q.unacked === null ? '-' : String(q.unacked));
        printTable(['queue', 'ready', 'unacked', 'consumers', 'retry', 'dlq'], report.queues.map((q) => [q.queue, show(q.ready), unacked(q), show(q.consumers), show(q.retry), show(q.dlq)]));
        printLine(`outbox: ${report.pendingOutbox} pending${report.oldestPendingOutboxAt ? `, the oldest since ${report.oldestPendingOutboxAt} (${report.oldestPendingOutboxAgeSeconds} s): run \`exchange publish --outbox\`` : ''}`);
        for (const lock of report.locks) printLine(`lock ${lock.name}: held by ${lock.lockedBy} until ${lock.lockUntil}`);
        for (const run of report.lastRuns.slice(0, 5)) printLine(`run ${run.id} ${run.command} ${run.startedAt} ${run.status}${run.error ? `: ${run.error}` : ''}`);
        return 0;
      });
    });
}
