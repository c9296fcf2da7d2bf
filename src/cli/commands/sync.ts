import type { Command } from 'commander';
import { shutdownSignal, withContext } from '../command-runner.js';
import { printJson, printLine, printSummaries, printTable } from '../output.js';

/**
 * `exchange sync [name]` and its management words. Commander dispatches a first word that is a subcommand
 * (list, status, …) to it and anything else to the run action as the name, which is why the config refuses
 * syncs named like a subcommand.
 */
export function registerSyncCommand(program: Command): void {
  const sync = program
    .command('sync')
    .description('run every enabled sync that is due by its schedule (the cron line), or the named one now')
    .argument('[name]', 'one sync to run now, due or not')
    .action(async (name: string | undefined, _options, command: Command) => {
      await withContext(command, async (context, mode, options) => {
        const { runSyncs } = await import('../../jobs/sync.js');
        const result = await runSyncs(context, { name, dryRun: Boolean(options.dryRun), signal: shutdownSignal('saving the page in hand') });
        for (const skip of result.skipped) {
          if (mode.json) printJson({ event: 'skipped', name: skip.name, reason: skip.reason, message: skip.message });
          // Asked for by name, a disabled sync is the answer itself; in a cron run, only a held lock is worth a line.
          else if (name !== undefined) printLine(skip.message);
          else if (skip.reason === 'locked') context.reporter.warn(skip.message);
          else context.reporter.info(skip.message);
        }
        if (name === undefined && Object.keys(context.config.syncs).length === 0) context.reporter.info('no syncs in the config');
        printSummaries(mode, result.summaries);
        return result.exitCode;
      });
    });

  sync
    .command('list')
    .description('the configured syncs: provider, schedule, enabled, status and next run')
    .action(async (_options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { syncViews } = await import('../../sync/sync-states.js');
        const views = await syncViews(context);
        if (mode.json) {
          for (const view of views) printJson({ name: view.name, provider: view.provider, enabled: view.enabled, schedule: view.schedule, status: view.status, nextRunAt: view.nextRunAt });
          return 0;
        }
        printTable(['name', 'provider', 'schedule', 'enabled', 'status', 'next run'],
          views.map((v) => [v.name, v.provider, v.schedule, v.enabled ? 'yes' : 'no', v.status, v.nextRunAt ?? '-']));
        return 0;
      });
    });

  sync
    .command('status')
    .description('state of every sync (or one): status, cursor, last error, counts, last and next run')
    .argument('[name]', 'one sync')
    .action(async (name: string | undefined, _options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { syncViews } = await import('../../sync/sync-states.js');
        const views = await syncViews(context, name);
        if (mode.json) {
          for (const view of views) printJson(view);
          return 0;
        }
        for (const v of views) {
          printLine(`${v.name} (${v.provider}, ${v.schedule}): ${v.enabled ? 'enabled' : 'disabled'}, ${v.status}`);
          printLine(`  cursor: ${v.cursor ?? '(none: starts from the beginning)'}; processed since reset: ${v.processed}`);
          printLine(`  last run: ${v.lastRunAt ?? 'never'}${v.finishedAt ? `, finished ${v.finishedAt}` : ''}: read ${v.counts.read}, written ${v.counts.written}, unchanged ${v.counts.unchanged}, stale ${v.counts.stale}`);
          if (v.nextRunAt) printLine(`  next run: ${v.nextRunAt}`);
          if (v.lockedBy) printLine(`  lock: held by ${v.lockedBy} until ${v.lockedUntil}`);
          if (v.error) printLine(`  error: ${v.error}`);
        }
        return 0;
      });
    });

  for (const [word, enabled] of [['enable', true], ['disable', false]] as const) {
    sync
      .command(word)
      .description(`${word} a sync (kept in the record store)`)
      .argument('<name>', 'the sync')
      .action(async (name: string, _options, command: Command) => {
        await withContext(command, async (context, mode) => {
          const { setSyncEnabled } = await import('../../sync/sync-states.js');
          const message = await setSyncEnabled(context, name, enabled);
          if (mode.json) printJson({ event: word, name, message });
          else printLine(message);
          return 0;
        });
      });
  }

  sync
    .command('reset')
    .description('clear the cursor: the next run starts from the beginning (exit 75 while the sync runs)')
    .argument('<name>', 'the sync')
    .action(async (name: string, _options, command: Command) => {
      await withContext(command, async (context, mode) => {
        const { resetSync } = await import('../../sync/sync-states.js');
        const message = await resetSync(context, name);
        if (mode.json) printJson({ event: 'reset', name, message });
        else printLine(message);
        return 0;
      });
    });
}
