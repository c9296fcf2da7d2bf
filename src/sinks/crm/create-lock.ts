import { newLockOwner } from '../../recordstore/lock-owner.js';
import type { RecordStore } from '../../recordstore/record-store.js';

const owner = newLockOwner();
const holdForMs = 5 * 60 * 1000;

/**
 * Finding an entity and creating it are two requests, so two consumers (or two machines sharing the
 * PostgreSQL store) could both find nothing and both create. The first-time path runs under a lock in
 * the shared record store; updates by a known link never take it.
 */
export async function withCreateLock<T>(store: RecordStore, name: string, work: () => Promise<T>, waitMs = holdForMs): Promise<T> {
  const lockName = `crm-create:${name}`;
  const deadline = Date.now() + waitMs;
  while (!(await store.tryLock(lockName, holdForMs, owner))) {
    if (Date.now() > deadline) throw new Error(`waited ${Math.round(waitMs / 1000)} s for the lock ${lockName}`);
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 100)));
  }
  try {
    return await work();
  } finally {
    await store.unlock(lockName, owner).catch(() => undefined);
  }
}
