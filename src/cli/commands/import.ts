import type { Command } from 'commander';
import { ExchangeError } from '../../errors.js';
import { isBusinessType } from '../../messages/entity-types.js';
import { shutdownSignal, withContext } from '../command-runner.js';
import { printJson, printLine, printSummaries } from '../output.js';

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
        // A dry run's answer is what it would import, so it is printed whether or not there is a terminal.
        const onDryRunFile = (file: string, byType: Map<string, number>) => {
          if (mode.json) for (const [recordType, records] of byType) printJson({ event: 'dry-run', command: 'import', file, type: recordType, records });
          else if (!mode.quiet) {
            if (byType.size === 0) printLine(`${file}: 0 records (dry run: nothing stored or published)`);
            for (const [recordType, records] of byType) printLine(`${file}: ${records} ${recordType} (dry run: nothing stored or published)`);
          }
        };
        const summary = await importFiles(context, { type, files, full: Boolean(options.full), dryRun: Boolean(options.dryRun), signal, onDryRunFile });
        printSummaries(mode, [summary]);
        return summary.exitCode;
      });
    });
}
