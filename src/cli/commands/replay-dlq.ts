import type { Command } from 'commander';
import { parseCount, parseType, withContext } from '../command-runner.js';
import { printJson, printLine, printSummaries } from '../output.js';

export function registerReplayDlqCommand(program: Command): void {
  program
    .command('replay-dlq')
    .description('move dead-lettered messages back to their work queue (attempts reset, replays counted)')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .option('--sink <name>', 'only the dead-letter queue of this route')
    .option('--limit <n>', 'most messages to move (0 = all)', parseCount, 0)
    .option('--filter <expr>', 'id=<id>, code=<error code> or header:<name>=<value> (repeatable; all must match)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .action(async (type, _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { replayDeadLetters } = await import('../../jobs/replay-dlq.js');
        const summary = await replayDeadLetters(context, {
          type,
          sink: options.sink as string | undefined,
          limit: options.limit as number,
          dryRun: Boolean(options.dryRun),
          filters: options.filter as string[],
          idleMs: context.config.drain.idleMs,
          prefetch: context.config.amqp.prefetch,
        }, (message) => {
          if (mode.json) printJson({ event: 'dead-letter', ...message });
          else if (options.dryRun || mode.verbose) printLine(`${message.queue} ${message.messageId ?? '?'} attempts=${message.attempts} replays=${message.replays} ${message.errorCode ?? ''}: ${message.error ?? ''}`);
        });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
