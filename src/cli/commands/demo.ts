import type { Command } from 'commander';
import { shutdownSignal, withContext } from '../command-runner.js';
import { printSummaries } from '../output.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('declare, publish the bundled fixtures, drain them into the record store, print a summary per step')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { demo } = await import('../../jobs/demo.js');
        const summaries = await demo(context, { signal: shutdownSignal() });
        // The demo is asked for by a person: it always shows its table unless told to be quiet.
        printSummaries({ ...mode, tty: true }, summaries);
        if (!mode.json && !mode.quiet) {
          const store = await context.recordStore();
          process.stdout.write(`record store: ${store.engine} ${store.location}\n`);
        }
        return Math.max(...summaries.map((s) => s.exitCode));
      });
    });
}
