import type { z } from 'zod';
import type { ExchangeConfig } from '../config/schema.js';
import type { Reporter } from '../jobs/reporter.js';
import type { EntityType } from '../messages/entity-types.js';
import type { RecordStore } from '../recordstore/record-store.js';

/**
 * The contract between the sync runner and a provider (DESIGN §10). A provider only reads its source: it
 * yields pages of records and the cursor that resumes after each page. The runner writes each page through
 * the record store together with that cursor, in one transaction, so changes reach RabbitMQ through the
 * outbox and a crash resumes at the last saved page. Providers are plain objects listed in ./providers/registry.ts.
 */
export interface SyncRecord {
  type: EntityType;
  id: string;
  op: 'upsert' | 'delete';
  /** Orders the record's changes (DESIGN §6): an ISO-8601 time or a zero-padded counter. */
  version: string;
  data: Record<string, unknown> | null;
}

export interface SyncPage {
  records: SyncRecord[];
  /** Where the next run (or the next page) starts: saved with this page's records. */
  cursor: string;
}

export interface ProviderContext {
  config: ExchangeConfig;
  reporter: Reporter;
  /** Read-only use (e.g. links, to leave out what our own CRM sink just wrote): the runner does the writes. */
  recordStore: RecordStore;
  /** Aborted on SIGINT/SIGTERM: stop after the page in hand. */
  signal?: AbortSignal;
  /** The clock (tests move it). */
  now: () => Date;
}

export interface SyncProvider<Settings = unknown> {
  readonly name: string;
  readonly description: string;
  /** Validates `syncs.<name>.settings`; a problem is exit 78 naming `syncs.<name>.settings.<key>`. */
  readonly settings: z.ZodType<Settings>;
  /** Raised when the meaning of a saved cursor changes: a sync whose saved stateVersion is lower starts over. */
  readonly stateVersion: number;
  /**
   * Pages from `cursor` (null: from the beginning). A source that cannot be reached, or refuses us (5xx, 401,
   * 402, 403, a timeout), is an ExchangeError 'SOURCE_UNAVAILABLE' (exit 69); the text is kept in sync_state.
   */
  pull(cursor: string | null, settings: Settings, context: ProviderContext): AsyncIterable<SyncPage>;
}
