import type { Command } from 'commander';
import { parsePositive, parseType, withContext } from '../command-runner.js';
import { printJson, printLine, printTable } from '../output.js';

export function registerRecordsCommand(program: Command): void {
  const records = program.command('records').description('read the record store');
  records
    .command('count')
    .description('print the number of records of a type (deleted ones excluded)')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .action(async (type, _options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { countRecords } = await import('../../jobs/records.js');
        const count = await countRecords(context, type);
        if (mode.json) printJson({ type, count });
        else printLine(String(count));
        return 0;
      });
    });
  records
    .command('get')
    .description('print one record with its data')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .argument('<id>', 'the 1C id')
    .action(async (type, id: string, _options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { getRecord } = await import('../../jobs/records.js');
        const record = await getRecord(context, type, id);
        if (mode.json) printJson(record);
        else printLine(JSON.stringify(record, null, 2));
        return 0;
      });
    });
  records
    .command('list')
    .description('list the records of a type, by id')
    .argument('<type>', 'user, product or mutualsettlements', parseType)
    .option('--limit <n>', 'how many', parsePositive, 100)
    .option('--after <id>', 'start after this id (paging)')
    .action(async (type, _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { listRecords } = await import('../../jobs/records.js');
        const list = await listRecords(context, type, { limit: options.limit as number, afterId: options.after as string | undefined });
        if (mode.json) list.forEach((record) => printJson(record));
        else printTable(['id', 'version', 'deleted', 'updated'], list.map((r) => [r.id, r.version, r.deleted ? 'yes' : '', r.updatedAt]));
        return 0;
      });
    });
}
