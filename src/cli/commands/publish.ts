import type { Command } from 'commander';
import { ExchangeError } from '../../errors.js';
import { parseType, withContext } from '../command-runner.js';
import { printSummaries } from '../output.js';

export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .description('publish every record of the files as-is, with confirms (JSON lines in the message format): for CI fixtures; --outbox: publish the pending change events of the record store')
    .argument('[type]', 'user, product or mutualsettlements', parseType)
    .argument('[file...]', 'JSON-lines, CommerceML or CSV files')
    .option('--outbox', 'publish the outbox events a broker outage left pending (no type, no files)')
    .action(async (type, files: string[], _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        if (options.outbox) {
          if (type || files.length > 0) throw new ExchangeError('USAGE', 'publish --outbox takes no type and no files', { hint: 'run `exchange publish --outbox` alone' });
          const { publishPending } = await import('../../jobs/publish-pending.js');
          const summary = await publishPending(context, { dryRun: Boolean(options.dryRun) });
          printSummaries(mode, [summary]);
          return summary.exitCode;
        }
        if (!type || files.length === 0) throw new ExchangeError('USAGE', 'publish needs a type and at least one file', { hint: 'exchange publish <type> <file...>, or exchange publish --outbox' });
        const { publish } = await import('../../jobs/publish.js');
        const summary = await publish(context, { type, files, dryRun: Boolean(options.dryRun) });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
