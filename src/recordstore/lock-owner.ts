import { randomBytes } from 'node:crypto';
import os from 'node:os';

/** This process as `exchange status` and `exchange runs` name it: host and pid. */
export function processOwner(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** Who holds a lock, as `exchange status` shows it: this process and a nonce so two holders never match. */
export function newLockOwner(): string {
  return `${processOwner()}:${randomBytes(3).toString('hex')}`;
}
