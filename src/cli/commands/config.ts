import type { Command } from 'commander';
import { ConfigError, resolveRecordStoreUrl, type LoadedConfig } from '../../config/load-config.js';
import { maskSecrets } from '../../config/secrets.js';
import { withContext } from '../command-runner.js';
import { outputMode, printJson, printLine } from '../output.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('validate the configuration and print it as resolved (secrets masked)')
    .action(async (_options, command: Command) => {
      try {
        await withContext(command, async (context, mode) => {
          printResolved(context.loaded, mode.json, false);
          return 0;
        });
      } catch (error) {
        // A typo must not hide the rest: what could be loaded is shown, then the problems (exit 78).
        if (error instanceof ConfigError && error.loadable) printResolved(error.loadable, outputMode(command.optsWithGlobals()).json, true);
        throw error;
      }
    });
}

/**
 * The resolved configuration: on stdout when it is valid. What a broken one could load goes to stderr, before
 * the problems: `exchange config > resolved.json` must never leave a half configuration that looks whole.
 */
function printResolved(loaded: LoadedConfig, json: boolean, partial: boolean): void {
  const resolved = { ...loaded.config, recordStore: { url: resolveRecordStoreUrl(loaded) } };
  if (json) {
    printJson({ event: 'config', file: loaded.filepath ?? null, ...(partial ? { partial: true } : {}), config: resolved });
    return;
  }
  const source = loaded.filepath ? `from ${loaded.filepath}` : 'no config file: defaults and environment';
  if (!partial) {
    printLine(`# ${source}`);
    printLine(JSON.stringify(resolved, null, 2));
    return;
  }
  const text = `# partly ${source}: the keys named below are left out, defaults in their place\n${JSON.stringify(resolved, null, 2)}\n`;
  process.stderr.write(maskSecrets(text));
}
