import type { Command } from 'commander';
import { withContext } from '../command-runner.js';
import { printJson, printLine } from '../output.js';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description('declare exchanges, queues, retry and dead-letter queues, and migrate the record store (idempotent)')
    .option('--check', 'only verify; name every difference and exit 78 if there is one')
    .option('--reindex', 'build the next Elasticsearch index version with the current mapping, copy the documents, swap the alias')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { checkFailure, setup } = await import('../../jobs/setup.js');
        const result = await setup(context, { check: Boolean(options.check), reindex: Boolean(options.reindex) });
        if (options.check) {
          // A check's answer is its report: one line per thing checked, also under cron, then 78 if any differs.
          if (mode.json) result.checks.forEach((check) => printJson({ event: 'check', ...check }));
          else if (!mode.quiet) result.checks.forEach((check) => printLine(`${check.name}: ${check.state}`));
          const failure = checkFailure(result);
          if (failure) throw failure;
          return 0;
        }
        if (mode.json) printJson({ event: 'setup', check: false, actions: result.actions });
        else if (!mode.quiet && (mode.tty || mode.verbose)) result.actions.forEach((action) => printLine(action));
        return 0;
      });
    });
}
