import type { Command } from 'commander';
import { entityTypes } from '../../messages/entity-types.js';
import { parseCount, parseInRange, parsePositive, shutdownSignal, withContext } from '../command-runner.js';
import { printSummaries } from '../output.js';

export function registerDrainCommands(program: Command): void {
  for (const type of entityTypes) {
    program
      .command(type)
      .alias(`exchange:${type}`)
      .description(`drain the ${type} queues into their sinks`)
      .option('--limit <n>', 'most messages this run takes from each queue, 0 = until empty (default: drain.limit, 0)', parseCount)
      // The same ranges as drain.batchSize and amqp.prefetch (the broker's prefetch count is 16 bits).
      .option('--batch-size <n>', 'sink write size, 1–10000 (default: drain.batchSize, 200)', parseInRange(1, 10_000))
      .option('--prefetch <n>', 'unacked messages the broker may send ahead, 1–65535 (default: amqp.prefetch, 500)', parseInRange(1, 65_535))
      .option('--sink <name>', 'drain only the route to this sink')
      .option('--idle-ms <n>', 'wait for more: stop only when nothing arrives for this long (default: stop once the queue is empty and everything read is written, or after drain.idleMs, 1000, without a delivery)', parsePositive)
      .option('--exclusive', 'take a lock so that two runs never overlap (exit 75 if held)')
      .action(async (_options, command: Command) => {
        await withContext(command, async (context, mode, options) => {
          const { drain } = await import('../../jobs/drain.js');
          const summary = await drain(context, {
            type,
            sink: options.sink as string | undefined,
            limit: (options.limit as number | undefined) ?? context.config.drain.limit,
            batchSize: (options.batchSize as number | undefined) ?? context.config.drain.batchSize,
            prefetch: (options.prefetch as number | undefined) ?? context.config.amqp.prefetch,
            idleMs: (options.idleMs as number | undefined) ?? context.config.drain.idleMs,
            // The flag asks to wait for more; without it a run ends as soon as the queue is known to be empty.
            waitForMore: options.idleMs !== undefined,
            dryRun: Boolean(options.dryRun),
            exclusive: Boolean(options.exclusive),
            signal: shutdownSignal(),
          });
          printSummaries(mode, [summary]);
          return summary.exitCode;
        });
      });
  }
}
