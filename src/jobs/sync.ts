import type { SyncConfig } from '../config/schema.js';
import { maskSecrets } from '../config/secrets.js';
import { ExchangeError, ExitCode, exitCodeOf } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import type { RecordStore, RecordWrite, StoredRecord, SyncStateRow } from '../recordstore/record-store.js';
import { compareVersions, contentHash, serializeData } from '../recordstore/versioning.js';
import { providerNamed } from '../sync/providers/registry.js';
import { isDue, nextRunAfter, parseSchedule, type Schedule } from '../sync/schedule.js';
import type { SyncPage, SyncProvider } from '../sync/sync-provider.js';
import { withEvent } from './change-event.js';
import { takeLock } from './exclusive-lock.js';
import type { JobContext } from './job-context.js';
import { publishOutbox } from './publish-outbox.js';
import { journaled } from './run-journal.js';
import type { Counts, Summary } from './summary.js';

export interface SyncRunOptions {
  /** One sync, run now whatever its schedule; every due one when absent (the cron line). */
  name?: string;
  dryRun: boolean;
  /** Aborted on SIGINT/SIGTERM: the page in hand is saved, then the run stops; the next resumes after it. */
  signal?: AbortSignal;
  /** The clock (tests move it). */
  now?: () => Date;
}

export interface SyncSkip {
  name: string;
  reason: 'disabled' | 'not-due' | 'locked';
  message: string;
}

export interface SyncRunResult {
  summaries: Summary[];
  skipped: SyncSkip[];
  exitCode: number;
}

/** A page whose transaction the store had to roll back for now (deadlock, lost race) is written again this often. */
const pageAttempts = 3;

/**
 * `exchange sync [name]` (DESIGN §10): each sync under its own lock `sync:<name>`, from its saved cursor, page by
 * page; every page's records, outbox events and the cursor after it commit in one transaction, so a crash resumes
 * at the last saved page with nothing lost or doubled. Then the outbox is published.
 *
 * With a name, the sync runs now (a held lock is exit 75, a failure its own code). Without, every enabled sync that
 * is due runs; one that fails or whose lock is held does not stop the others, and the exit code is the worst.
 */
export async function runSyncs(context: JobContext, options: SyncRunOptions): Promise<SyncRunResult> {
  const now = options.now ?? (() => new Date());
  const syncs = context.config.syncs;
  const store = await context.recordStore();
  const states = new Map((await store.listSyncStates()).map((state) => [state.name, state]));
  const result: SyncRunResult = { summaries: [], skipped: [], exitCode: ExitCode.ok };

  if (options.name !== undefined) {
    const sync = requireSync(context, options.name);
    if (!isEnabled(sync, states.get(options.name))) {
      result.skipped.push({ name: options.name, reason: 'disabled', message: disabledMessage(options.name, sync) });
      return result;
    }
    result.summaries.push(await runOne(context, store, options.name, sync, options, now));
    result.exitCode = result.summaries[0].exitCode;
    return result;
  }

  for (const name of Object.keys(syncs).sort()) {
    if (options.signal?.aborted) break;
    const sync = syncs[name];
    const state = states.get(name);
    if (!isEnabled(sync, state)) {
      result.skipped.push({ name, reason: 'disabled', message: disabledMessage(name, sync) });
      continue;
    }
    const schedule = parseSchedule(sync.schedule) as Schedule;
    const lastRunAt = state?.lastRunAt ? new Date(state.lastRunAt) : null;
    if (!isDue(schedule, lastRunAt, now())) {
      result.skipped.push({ name, reason: 'not-due', message: `sync ${name}: not due until ${nextRunAfter(schedule, lastRunAt)!.toISOString()} (schedule "${sync.schedule}")` });
      continue;
    }
    try {
      const summary = await runOne(context, store, name, sync, options, now);
      result.summaries.push(summary);
      result.exitCode = worse(result.exitCode, summary.exitCode);
    } catch (error) {
      if (error instanceof ExchangeError && error.code === 'LOCKED') {
        result.skipped.push({ name, reason: 'locked', message: `sync ${name}: skipped, ${error.message}` });
        continue;
      }
      const summary = (error as { summary?: Summary }).summary;
      if (summary) result.summaries.push(summary);
      context.reporter.warn(`sync ${name}: ${maskSecrets((error as Error).message)}${error instanceof ExchangeError && error.hint ? ` (${error.hint})` : ''}`);
      result.exitCode = worse(result.exitCode, exitCodeOf(error));
    }
  }
  return result;
}

/** Which of two exit codes cron should see: a dependency down or a broken config over a busy lock over a partial run. */
function worse(a: number, b: number): number {
  const rank = (code: number) => (code === ExitCode.ok ? 0 : code === ExitCode.partial ? 1 : code === ExitCode.tempFail ? 2 : 3);
  return rank(b) > rank(a) ? b : a;
}

export function requireSync(context: JobContext, name: string): SyncConfig {
  const sync = context.config.syncs[name];
  if (!sync) {
    const known = Object.keys(context.config.syncs);
    throw new ExchangeError('USAGE', `no sync is named "${name}"`, {
      hint: known.length > 0 ? `the config has: ${known.join(', ')}` : 'add it under syncs in the config (see .exchangerc.example)',
    });
  }
  return sync;
}

/** On only when both the config (`syncs.<name>.enabled`) and the store (`exchange sync enable|disable`) say so. */
export function isEnabled(sync: SyncConfig, state: SyncStateRow | undefined): boolean {
  return sync.enabled && (state?.enabled ?? true);
}

function disabledMessage(name: string, sync: SyncConfig): string {
  return sync.enabled
    ? `sync ${name} is disabled (exchange sync enable ${name} switches it on)`
    : `sync ${name} is disabled by syncs.${name}.enabled in the config`;
}

async function runOne(context: JobContext, store: RecordStore, name: string, sync: SyncConfig, options: SyncRunOptions, now: () => Date): Promise<Summary> {
  const provider = providerNamed(sync.provider)!;
  return journaled(context, `sync:${name}`, async (counts) => {
    const lock = options.dryRun ? undefined : await takeLock(store, `sync:${name}`, sync.lockAtMostForMs, context.reporter);
    try {
      try {
        await pull(context, store, name, sync, provider, options, now, counts);
      } catch (error) {
        // The pages saved before the failure are committed: their events go out now, not with the next run.
        if (!options.dryRun) await publishOutbox(context, store, counts).catch((publishError) => context.reporter.warn(`the outbox stays for the next run: ${(publishError as Error).message}`));
        throw error;
      }
      if (!options.dryRun) await publishOutbox(context, store, counts);
    } finally {
      await lock?.release();
    }
  });
}

async function pull(context: JobContext, store: RecordStore, name: string, sync: SyncConfig, provider: SyncProvider<unknown>, options: SyncRunOptions, now: () => Date, counts: Counts): Promise<void> {
  const state = await store.getSyncState(name);
  let cursor = state?.cursor ?? null;
  let processed = state?.processed ?? 0;
  if (state && state.stateVersion < provider.stateVersion && (cursor !== null || processed > 0)) {
    context.reporter.warn(`sync ${name}: ${provider.name} changed what its cursor means (state version ${state.stateVersion} → ${provider.stateVersion}): starting over`);
    cursor = null;
    processed = 0;
  }
  const startedAt = now().toISOString();
  const runCounts = { read: 0, written: 0, unchanged: 0, stale: 0 };
  if (!options.dryRun) {
    await store.upsertSyncState(name, {
      provider: provider.name, stateVersion: provider.stateVersion, cursor, processed, status: 'running',
      startedAt, lastRunAt: startedAt, finishedAt: null, counts: runCounts,
    });
  }
  context.reporter.info(`sync ${name} (${provider.name}): from ${cursor === null ? 'the beginning' : `cursor ${cursor}`}`);
  try {
    for await (const page of provider.pull(cursor, sync.settings, { config: context.config, reporter: context.reporter, recordStore: store, signal: options.signal, now })) {
      if (options.dryRun) {
        counts.read += page.records.length;
      } else {
        const pageCounts = await savePage(context, store, name, provider, page, { processed: processed + page.records.length, counts: runCounts });
        processed += page.records.length;
        for (const key of ['read', 'written', 'unchanged', 'stale'] as const) { counts[key] += pageCounts[key]; runCounts[key] += pageCounts[key]; }
      }
      cursor = page.cursor;
      context.reporter.progress(`sync ${name}: ${counts.read} records, cursor ${cursor}`);
      if (options.signal?.aborted) {
        context.reporter.info(`sync ${name}: ${String(options.signal.reason ?? 'a signal')} received, stopped after the page in hand; the next run resumes at cursor ${cursor}`);
        break;
      }
    }
  } catch (error) {
    const message = maskSecrets((error as Error).message ?? String(error));
    // A provider that gave up its page in hand on SIGTERM did not fail: the state stays as the last saved page left it.
    const status = options.signal?.aborted ? 'idle' : 'error';
    if (!options.dryRun) await store.upsertSyncState(name, { status, error: status === 'error' ? message : null, finishedAt: now().toISOString() }).catch(() => undefined);
    if (options.signal?.aborted) {
      throw new ExchangeError('INTERRUPTED', `sync ${name}: ${String(options.signal.reason)} received while a page was read: ${message}`, {
        hint: `the next run resumes at the last saved page (cursor ${cursor ?? 'none'})`, cause: error,
      });
    }
    if (error instanceof ExchangeError) throw error;
    throw new ExchangeError('INTERNAL', `sync ${name}: ${provider.name} failed: ${message}`, { cause: error });
  } finally {
    context.reporter.progress('');
  }
  if (!options.dryRun) await store.upsertSyncState(name, { status: 'idle', error: null, finishedAt: now().toISOString() });
}

type PageCounts = Pick<Counts, 'read' | 'written' | 'unchanged' | 'stale'>;

/**
 * One page in one transaction: its records (through the import's write path, with change events in the outbox)
 * and the sync's cursor after it. A transaction the store rolled back for now (STORE_BUSY) is tried again: the
 * page is in memory, so nothing is read twice.
 */
async function savePage(context: JobContext, store: RecordStore, name: string, provider: SyncProvider<unknown>, page: SyncPage, progress: { processed: number; counts: PageCounts }): Promise<PageCounts> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(async (tx) => {
        const pageCounts: PageCounts = { read: page.records.length, written: 0, unchanged: 0, stale: 0 };
        const writes = await plannedWrites(tx, page, provider.name, pageCounts);
        for (const outcome of await tx.writeBatch(writes)) pageCounts[outcome]++;
        const runCounts = { ...progress.counts };
        for (const key of ['read', 'written', 'unchanged', 'stale'] as const) runCounts[key] += pageCounts[key];
        await tx.upsertSyncState(name, { cursor: page.cursor, processed: progress.processed, counts: runCounts });
        return pageCounts;
      });
    } catch (error) {
      if (!(error instanceof ExchangeError && error.code === 'STORE_BUSY') || attempt >= pageAttempts) throw error;
      context.reporter.warn(`sync ${name}: ${error.message}; writing the page again (attempt ${attempt + 1} of ${pageAttempts})`);
    }
  }
}

/** The page's writes, judged against the stored rows (locked until the page commits); older versions are stale. */
async function plannedWrites(tx: RecordStore, page: SyncPage, source: string, pageCounts: PageCounts): Promise<RecordWrite[]> {
  const stored = new Map<string, StoredRecord>();
  for (const type of new Set(page.records.map((r) => r.type))) {
    const ids = [...new Set(page.records.filter((r) => r.type === type).map((r) => r.id))];
    for (const [id, record] of await tx.getMany(type, ids, { forUpdate: true })) stored.set(key(type, id), record);
  }
  const writes: RecordWrite[] = [];
  for (const record of page.records) {
    const before = stored.get(key(record.type, record.id));
    if (before && compareVersions(record.version, before.version) < 0) { pageCounts.stale++; continue; }
    const write = withEvent({ type: record.type, id: record.id, version: record.version, op: record.op, data: record.op === 'delete' ? null : record.data }, before, source);
    writes.push(write);
    // A later record of the same id in this page is judged against this one.
    stored.set(key(write.type, write.id), { type: write.type, id: write.id, version: write.version, hash: contentHash(serializeData(write)), data: write.data, deleted: write.op === 'delete', updatedAt: '' });
  }
  return writes;
}

function key(type: EntityType, id: string): string {
  return `${type}:${id}`;
}
