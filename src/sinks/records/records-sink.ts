import { ExchangeError } from '../../errors.js';
import type { Envelope } from '../../messages/envelope.js';
import type { RecordStore, RecordWrite, WriteOutcome } from '../../recordstore/record-store.js';
import type { Sink, SinkItemResult, SinkPlugin } from '../sink.js';

/**
 * The record store as a sink: the whole batch in one transaction. If that transaction fails, the
 * items are written one by one so that the one bad item is found and only it is failed or retried.
 */
export class RecordsSink implements Sink {
  readonly name = 'records' as const;
  /**
   * PostgreSQL: two; while one batch waits for its round trip and commit, the next is parsed and sent. The store
   * is built for concurrent writers (version guard in SQL, rows locked in key order, first-insert races detected);
   * the drain still acks in delivery order, each batch after its own commit. SQLite: one; its writes are
   * synchronous, and a second batch would only be written before the first one's ack goes out.
   */
  readonly batchesInFlight: number;

  constructor(private readonly store: RecordStore) {
    this.batchesInFlight = store.engine === 'postgres' ? 2 : 1;
  }

  async write(batch: Envelope[]): Promise<SinkItemResult[]> {
    const writes = batch.map(toRecordWrite);
    try {
      return (await this.store.writeBatch(writes)).map(fromOutcome);
    } catch (error) {
      // A store busy or down as a whole fails the run, not the items (DESIGN §12): nothing is acked.
      if (error instanceof ExchangeError) throw error;
      if (isBusy(error)) throw busy(this.store, error);
      if (isUnavailable(error)) throw unavailable(this.store, error);
      const results: SinkItemResult[] = [];
      for (const write of writes) {
        try {
          results.push(fromOutcome((await this.store.writeBatch([write]))[0]));
        } catch (itemError) {
          if (itemError instanceof ExchangeError) throw itemError;
          if (isBusy(itemError)) throw busy(this.store, itemError);
          if (isUnavailable(itemError)) throw unavailable(this.store, itemError);
          results.push(classify(itemError));
        }
      }
      return results;
    }
  }

  async close(): Promise<void> {
    // The store belongs to the job, which closes it.
  }
}

export function toRecordWrite(envelope: Envelope): RecordWrite {
  return { type: envelope.type, id: envelope.id, version: envelope.version, op: envelope.op, data: envelope.op === 'delete' ? null : envelope.data ?? {} };
}

function fromOutcome(outcome: WriteOutcome): SinkItemResult {
  return { status: outcome };
}

const permanentSqlStateClasses = ['22', '23', '42'];
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/** PostgreSQL out of connection slots: the store as a whole is busy (exit 75), no item's fault. */
function isBusy(error: unknown): boolean {
  return (error as { code?: string }).code === '53300';
}

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (code !== undefined && unavailableCodes.has(code)) || /Connection terminated|not queryable|database connection is not open/i.test((error as Error).message ?? '');
}

function classify(error: unknown): SinkItemResult {
  const reason = (error as Error).message ?? String(error);
  // Data nested too deep to serialize (JSON.stringify's stack): this item can never be written.
  if (error instanceof RangeError) return { status: 'fail', reason: `the record cannot be stored: its data is nested too deep to serialize (${reason})`, code: 'RECORD_TOO_DEEP' };
  const code = String((error as { code?: string }).code ?? 'UNKNOWN');
  const permanent = permanentSqlStateClasses.some((prefix) => code.startsWith(prefix)) || code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH';
  return permanent ? { status: 'fail', reason, code: `RECORD_STORE_${code}` } : { status: 'retry', reason, code: `RECORD_STORE_${code}` };
}

function unavailable(store: RecordStore, cause: unknown): ExchangeError {
  return new ExchangeError('RECORD_STORE_UNAVAILABLE', `the record store ${store.location} stopped answering: ${(cause as Error).message}`, {
    hint: 'nothing was acked that was not written; run again when the store is back',
    cause,
  });
}

function busy(store: RecordStore, cause: unknown): ExchangeError {
  return new ExchangeError('STORE_BUSY', `the record store ${store.location} is busy: ${(cause as Error).message}`, {
    hint: 'nothing was acked; run again later (a cron run will)',
    cause,
  });
}

export const recordsSinkPlugin: SinkPlugin = {
  name: 'records',
  async open({ recordStore }) {
    return new RecordsSink(recordStore);
  },
};
