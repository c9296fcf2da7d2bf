import { newLockOwner } from '../../recordstore/lock-owner.js';
import type { RecordStore } from '../../recordstore/record-store.js';

const owner = newLockOwner();
const holdForMs = 5 * 60 * 1000;

export interface CreateLockOptions {
  /** Longest wait for another consumer's lock. */
  waitMs?: number;
  /** How long one take or renewal holds the lock; a holder that dies frees it after this. */
  holdForMs?: number;
  /** Told when a renewal fails or finds the lock gone (another consumer may be creating the same entities). */
  warn?: (message: string) => void;
}

/**
 * Finding an entity and creating it are two requests, so two consumers (or two machines sharing the
 * PostgreSQL store) could both find nothing and both create. The first-time path runs under a lock in
 * the shared record store; updates by a known link never take it. The lock is renewed every third of its
 * hold while the work goes on (as the drain's --exclusive lock is, src/jobs/exclusive-lock.ts): waits for
 * OPERATION_TIME_LIMIT or a slow portal can outlast one hold, and a lock that lapsed mid-work would let a
 * competing consumer look up, find nothing yet, and create duplicates.
 */
export async function withCreateLock<T>(store: RecordStore, name: string, work: () => Promise<T>, options: CreateLockOptions = {}): Promise<T> {
  const lockName = `crm-create:${name}`;
  const waitMs = options.waitMs ?? holdForMs;
  const hold = options.holdForMs ?? holdForMs;
  const deadline = Date.now() + waitMs;
  while (!(await store.tryLock(lockName, hold, owner))) {
    if (Date.now() > deadline) throw new Error(`waited ${Math.round(waitMs / 1000)} s for the lock ${lockName}`);
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 100)));
  }
  const renewal = setInterval(() => {
    store.extendLock(lockName, hold, owner).then(
      (held) => { if (!held) options.warn?.(`the lock "${lockName}" expired while this consumer held it`); },
      (error) => options.warn?.(`could not renew the lock "${lockName}": ${(error as Error).message}`),
    );
  }, Math.max(50, Math.floor(hold / 3)));
  renewal.unref();
  try {
    return await work();
  } finally {
    clearInterval(renewal);
    await store.unlock(lockName, owner).catch(() => undefined);
  }
}
