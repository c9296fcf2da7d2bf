import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode, exitCodeOf } from '../errors.js';
import { registerConfigCommand } from './commands/config.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDrainCommands } from './commands/drain.js';
import { registerImportCommand } from './commands/import.js';
import { registerPublishCommand } from './commands/publish.js';
import { registerRecordsCommand } from './commands/records.js';
import { registerReplayDlqCommand } from './commands/replay-dlq.js';
import { registerRunsCommand } from './commands/runs.js';
import { registerSetupCommand } from './commands/setup.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSyncCommand } from './commands/sync.js';
import { registerTeardownCommand } from './commands/teardown.js';
import { outputMode, printError, printJson, stdoutGone, treatClosedOutputAsReaderGone } from './output.js';

/** The installed package's version (dist/cli/main.js → ../../package.json), so --version never drifts from it. */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function buildProgram(): Command {
  const program = new Command('exchange')
    .description('moves business data between 1C, RabbitMQ, Bitrix24, Elasticsearch and a SQL record store')
    .version(packageVersion())
    .option('--config <path>', 'config file (else EXCHANGE_CONFIG, else .exchangerc* in the working folder)')
    .option('--json', 'machine output: one JSON object per line on stdout')
    .option('--quiet', 'print nothing but errors')
    .option('--verbose', 'print what happens, batch by batch')
    .option('--dry-run', 'read and transform, write nothing, ack nothing')
    .option('--metrics-file <path>', 'write the run\'s counters in Prometheus\' text format to this file (atomically), for node_exporter\'s textfile collector: one file per command')
    .showHelpAfterError('(run with --help for usage)')
    // Every command's --help lists the global flags too (set before the subcommands, which inherit it).
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  // Every subcommand, however deep, reports usage errors through the same exit-code catch.
  program.hook('preSubcommand', (_thisCommand, sub) => { sub.exitOverride(); });
  registerDrainCommands(program);
  registerSetupCommand(program);
  registerImportCommand(program);
  registerPublishCommand(program);
  registerRecordsCommand(program);
  registerRunsCommand(program);
  registerStatusCommand(program);
  registerReplayDlqCommand(program);
  registerConfigCommand(program);
  registerDemoCommand(program);
  registerSyncCommand(program);
  registerTeardownCommand(program);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

/** The one top-level catch: every error becomes a sysexits code (DESIGN §3). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the message; help and version are not errors.
      if (error.exitCode === 0) return ExitCode.ok;
      // A machine reading --json gets the usage error as an event too (commander stops before options are known).
      if (argv.includes('--json')) printJson({ event: 'error', code: 'USAGE', message: error.message.replace(/^error: /, ''), details: [], hint: 'run with --help for usage', exitCode: ExitCode.usage });
      return ExitCode.usage;
    }
    const code = exitCodeOf(error);
    printError(outputMode(program.opts()), error, code);
    return code;
  }
}

treatClosedOutputAsReaderGone();
const code = await main(process.argv);
// Flush, then exit: a cron job must never hang on a forgotten handle. A reader that went away has nothing to flush to.
if (stdoutGone()) process.exit(code);
else process.stdout.write('', () => process.exit(code));
