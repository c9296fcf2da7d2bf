import type { Command } from 'commander';
import { resolveRecordStoreUrl } from '../../config/load-config.js';
import { withContext } from '../command-runner.js';
import { printJson, printLine } from '../output.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print it as resolved (secrets masked)')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const resolved = { ...context.config, recordStore: { url: resolveRecordStoreUrl(context.loaded) } };
        if (mode.json) printJson({ event: 'config', file: context.loaded.filepath ?? null, config: resolved });
        else {
          printLine(`# ${context.loaded.filepath ? `from ${context.loaded.filepath}` : 'no config file: defaults and environment'}`);
          printLine(JSON.stringify(resolved, null, 2));
        }
        return 0;
      });
    });
}
