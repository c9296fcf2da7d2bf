import type { JobContext } from '../jobs/job-context.js';
import { takeLock } from '../jobs/exclusive-lock.js';
import { isEnabled, requireSync } from '../jobs/sync.js';
import type { SyncStateRow } from '../recordstore/record-store.js';
import { providerNamed } from './providers/registry.js';
import { nextRunAfter, parseSchedule, type Schedule } from './schedule.js';

/** One sync as `exchange sync status --json` prints it (DESIGN §10), with the last run's counts and its lock. */
export interface SyncView {
  name: string;
  provider: string;
  enabled: boolean;
  schedule: string;
  status: string;
  cursor: string | null;
  error: string | null;
  processed: number;
  lastRunAt: string | null;
  /** When `exchange sync` will next run it: null when disabled; a past time means it is due now. */
  nextRunAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  counts: SyncStateRow['counts'];
  stateVersion: number;
  /** Who runs it now (the holder of `sync:<name>`), and until when the lock holds if that process died. */
  lockedBy: string | null;
  lockedUntil: string | null;
}

/** The configured syncs (one, when named) with what the record store knows of them. */
export async function syncViews(context: JobContext, name?: string, now = new Date()): Promise<SyncView[]> {
  if (name !== undefined) requireSync(context, name);
  const store = await context.recordStore();
  const states = new Map((await store.listSyncStates()).map((state) => [state.name, state]));
  const locks = new Map((await store.heldLocks()).map((lock) => [lock.name, lock]));
  const names = name !== undefined ? [name] : Object.keys(context.config.syncs).sort();
  return names.map((syncName) => {
    const sync = context.config.syncs[syncName];
    const state = states.get(syncName);
    const lock = locks.get(`sync:${syncName}`);
    const enabled = isEnabled(sync, state);
    const lastRunAt = state?.lastRunAt ?? null;
    const next = enabled ? nextRunAfter(parseSchedule(sync.schedule) as Schedule, lastRunAt ? new Date(lastRunAt) : null) ?? now : null;
    // A row left `running` by a process that died keeps saying so until the next run; without its lock it is not.
    const status = state?.status === 'running' && !lock ? 'interrupted' : state?.status ?? 'never run';
    return {
      name: syncName, provider: sync.provider, enabled, schedule: sync.schedule, status,
      cursor: state?.cursor ?? null, error: state?.error ?? null, processed: state?.processed ?? 0,
      lastRunAt, nextRunAt: next ? next.toISOString() : null,
      startedAt: state?.startedAt ?? null, finishedAt: state?.finishedAt ?? null,
      counts: state?.counts ?? { read: 0, written: 0, unchanged: 0, stale: 0 },
      stateVersion: state?.stateVersion ?? 0,
      lockedBy: lock?.lockedBy ?? null, lockedUntil: lock?.lockUntil ?? null,
    };
  });
}

/** `exchange sync enable|disable <name>`: kept in the record store, so every machine sharing it agrees. */
export async function setSyncEnabled(context: JobContext, name: string, enabled: boolean): Promise<string> {
  const sync = requireSync(context, name);
  const store = await context.recordStore();
  await store.upsertSyncState(name, { enabled, provider: sync.provider });
  if (enabled && !sync.enabled) return `sync ${name} enabled in the record store, but syncs.${name}.enabled is false in the config: it stays off until that is true`;
  return `sync ${name} ${enabled ? 'enabled' : 'disabled'}`;
}

/**
 * `exchange sync reset <name>`: the cursor is cleared so the next run starts from the beginning. Taken under
 * the sync's lock, so a running sync cannot save its next page's cursor over the reset (exit 75 while it runs).
 */
export async function resetSync(context: JobContext, name: string): Promise<string> {
  const sync = requireSync(context, name);
  const store = await context.recordStore();
  const provider = providerNamed(sync.provider)!;
  const lock = await takeLock(store, `sync:${name}`, sync.lockAtMostForMs, context.reporter);
  try {
    const before = await store.getSyncState(name);
    await store.upsertSyncState(name, {
      provider: provider.name, cursor: null, processed: 0, status: 'idle', error: null, stateVersion: provider.stateVersion,
    });
    return `sync ${name} reset${before?.cursor ? ` (its cursor was ${before.cursor})` : ''}: the next run starts from the beginning`;
  } finally {
    await lock.release();
  }
}
