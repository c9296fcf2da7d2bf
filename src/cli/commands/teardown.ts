import type { Command } from 'commander';
import { withContext } from '../command-runner.js';
import { printJson, printLine } from '../output.js';

export function registerTeardownCommand(program: Command): void {
  program
    .command('teardown')
    .description('delete the tenant\'s exchanges and queues (every route\'s work, .retry and .dlq queue); refuses queues that hold messages or have consumers')
    .option('--yes', 'really delete (without it: list what would go and exit 64)')
    .option('--force', 'delete queues that hold messages or have consumers too: their messages are lost')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { describeItem, teardown } = await import('../../jobs/teardown.js');
        const dryRun = Boolean(options.dryRun);
        const result = await teardown(context, { yes: Boolean(options.yes), force: Boolean(options.force), dryRun });
        // What was (or would be) deleted is the command's answer: printed also without a terminal.
        const listed = dryRun ? result.items.filter((item) => item.exists) : result.deleted;
        const verb = dryRun ? 'would delete' : 'deleted';
        if (mode.json) listed.forEach((item) => printJson({ event: 'teardown', action: dryRun ? 'would-delete' : 'deleted', kind: item.kind, name: item.name, messages: item.messages, consumers: item.consumers }));
        else if (!mode.quiet) {
          listed.forEach((item) => printLine(`${verb} ${describeItem(item)}`));
          if (listed.length === 0) printLine('nothing to delete: none of the tenant\'s exchanges and queues exists');
        }
        return 0;
      });
    });
}
