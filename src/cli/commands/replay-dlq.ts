import type { Command } from 'commander';
import { parseCount, parseType, shutdownSignal, withContext } from '../command-runner.js';
import { printJson, printLine, printSummaries } from '../output.js';

export function registerReplayDlqCommand(program: Command): void {
  program
    .command('replay-dlq')
    .description('scan each dead-letter queue of a type once: replay the matches to their work queue (attempts reset, replays counted), --to another queue, or --discard them; the rest keep their order')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .option('--sink <name>', 'only the dead-letter queue of this route')
    .option('--limit <n>', 'most messages to move (0 = all that match)', parseCount, 0)
    .option('--filter <expr>', 'id=<id>, code=<error code>, header:<name>=<value>, json:<path>=<value> or $.<path>=<value> (repeatable; all must match)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--to <queue>', 'replay into this existing queue (full name) instead of the work queue')
    .option('--discard', 'drop the matches for good instead of replaying them (needs --yes)')
    .option('--yes', 'confirm --discard')
    .action(async (type, _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { replayDeadLetters } = await import('../../jobs/replay-dlq.js');
        const summary = await replayDeadLetters(context, {
          type,
          sink: options.sink as string | undefined,
          limit: options.limit as number,
          dryRun: Boolean(options.dryRun),
          filters: options.filter as string[],
          to: options.to as string | undefined,
          discard: Boolean(options.discard),
          confirmed: Boolean(options.yes),
          idleMs: context.config.drain.idleMs,
          prefetch: context.config.amqp.prefetch,
          signal: shutdownSignal('stopping the scan: what is in hand is settled and acked'),
        }, {
          onMessage: (message) => {
            if (mode.json) printJson({ event: 'dead-letter', ...message });
            else if (options.dryRun || mode.verbose) printLine(`${message.action} ${message.queue} ${message.messageId ?? '?'} attempts=${message.attempts} replays=${message.replays} ${message.errorCode ?? ''}: ${message.error ?? ''}`);
          },
          onQueue: (outcome) => {
            const moved = outcome.dryRun ? `${outcome.matched} would be ${outcome.target ? `replayed to ${outcome.target}` : 'discarded'}`
              : outcome.target ? `${outcome.replayed} replayed to ${outcome.target}` : `${outcome.discarded} discarded`;
            if (mode.json) printJson({ event: 'replay-dlq', ...outcome });
            else if (!mode.quiet) printLine(`${outcome.queue}: ${outcome.scanned} scanned, ${outcome.matched} matched, ${moved}`);
          },
        });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
