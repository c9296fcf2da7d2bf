import { ExchangeError } from '../errors.js';
import type { RecordStore } from './record-store.js';

export interface OpenRecordStoreOptions {
  migrate?: boolean;
  /** config recordStore.sqliteSynchronous; FULL unless `normal` is asked for (a commit must outlive a power loss). */
  sqliteSynchronous?: 'full' | 'normal';
}

/** Opens the store a URL names and brings its schema up to date (migrations run on first use). */
export async function openRecordStore(url: string, options: OpenRecordStoreOptions = {}): Promise<RecordStore> {
  let store: RecordStore;
  // Each engine's module (and its driver) is loaded only when a URL names it: start-up time of every command.
  if (url.startsWith('sqlite:')) store = (await import('./sqlite-record-store.js')).SqliteRecordStore.open(url.slice('sqlite:'.length), { synchronous: options.sqliteSynchronous });
  else if (/^postgres(ql)?:\/\//.test(url)) store = await (await import('./postgres-record-store.js')).PostgresRecordStore.open(url);
  else throw new ExchangeError('CONFIG', `unsupported record store URL: ${url}`, { details: ['recordStore.url: must be sqlite:<path> or postgres://…'] });
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw new ExchangeError('RECORD_STORE_UNAVAILABLE', `cannot migrate the record store ${store.location}: ${(error as Error).message}`, { cause: error });
    }
  }
  return store;
}
