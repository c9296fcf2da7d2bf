import type { Command } from 'commander';
import { ExchangeError } from '../../errors.js';
import { isBusinessType } from '../../messages/entity-types.js';
import { shutdownSignal, withContext } from '../command-runner.js';
import { printSummaries } from '../output.js';

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('parse 1C files (CommerceML, CSV, JSON lines), upsert into the record store, publish change events (outbox)')
    .argument('<type>', 'user, product, mutualsettlements, or all (every type a file holds)')
    .argument('<file...>', '1C files')
    .option('--full', 'a full package (СодержитТолькоИзменения=false) also deletes the records of its type it no longer holds')
    .action(async (type: string, files: string[], _options, command: Command) => {
      // rate and edi-event come from synchronizations, never from 1C files.
      if (type !== 'all' && !isBusinessType(type)) throw new ExchangeError('USAGE', `unknown import type "${type}"`, { hint: 'use user, product, mutualsettlements or all' });
      await withContext(command, async (context, mode, options) => {
        const { importFiles } = await import('../../jobs/import.js');
        const signal = shutdownSignal('stopping the import: the file being read is rolled back whole');
        const summary = await importFiles(context, { type, files, full: Boolean(options.full), dryRun: Boolean(options.dryRun), signal });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
