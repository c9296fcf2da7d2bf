import type { Command } from 'commander';
import { parseType, withContext } from '../command-runner.js';
import { printSummaries } from '../output.js';

export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .description('publish every record of the files as-is, with confirms (JSON lines in the message format): for CI fixtures')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .argument('<file...>', 'JSON-lines files, one message per line')
    .action(async (type, files: string[], _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { publish } = await import('../../jobs/publish.js');
        const summary = await publish(context, { type, files, dryRun: Boolean(options.dryRun) });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
