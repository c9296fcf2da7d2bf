import { ExchangeError } from '../errors.js';
import { newLockOwner } from '../recordstore/lock-owner.js';
import type { RecordStore } from '../recordstore/record-store.js';
import type { Reporter } from './reporter.js';

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * A ShedLock-style lock in the record store: taken with one atomic statement, held for at most
 * `atMostForMs`, renewed while the work goes on (so a crashed holder frees it by expiry, never by luck).
 */
export async function takeLock(store: RecordStore, name: string, atMostForMs: number, reporter: Reporter): Promise<HeldLock> {
  const owner = newLockOwner();
  if (!(await store.tryLock(name, atMostForMs, owner))) {
    const holder = (await store.heldLocks()).find((lock) => lock.name === name);
    throw new ExchangeError('LOCKED', `another run holds the lock "${name}"${holder ? ` (${holder.lockedBy}, until ${holder.lockUntil})` : ''}`, {
      hint: 'this run did nothing; the next cron run will try again',
    });
  }
  const renewal = setInterval(() => {
    store.extendLock(name, atMostForMs, owner).then(
      (held) => { if (!held) reporter.warn(`the lock "${name}" expired while this run held it`); },
      (error) => reporter.warn(`could not renew the lock "${name}": ${(error as Error).message}`),
    );
  }, Math.max(1000, Math.floor(atMostForMs / 3)));
  renewal.unref();
  return {
    async release() {
      clearInterval(renewal);
      await store.unlock(name, owner).catch(() => undefined);
    },
  };
}
