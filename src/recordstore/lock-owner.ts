import { randomBytes } from 'node:crypto';
import os from 'node:os';

/** Who holds a lock, as `exchange status` shows it: host, process and a nonce so two holders never match. */
export function newLockOwner(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
