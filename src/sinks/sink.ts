import type { ExchangeConfig, SinkName } from '../config/schema.js';
import type { Envelope } from '../messages/envelope.js';
import type { RecordStore } from '../recordstore/record-store.js';
import type { Reporter } from '../jobs/reporter.js';

/**
 * One result per item (DESIGN §8): the drain acks, retries or dead-letters each by its own result,
 * so one bad item never fails its batch.
 */
export type SinkItemResult =
  | { status: 'written' | 'stale' | 'unchanged' }
  | { status: 'retry'; reason: string; code?: string; retryAfterMs?: number }
  | { status: 'fail'; reason: string; code?: string };

export interface Sink {
  readonly name: SinkName;
  /**
   * Batches the drain may write at once (default 1). More than one only where concurrent writers are safe by
   * design: each batch is judged against what is stored when it writes, whatever order they commit in.
   */
  readonly batchesInFlight?: number;
  write(batch: Envelope[]): Promise<SinkItemResult[]>;
  close(): Promise<void>;
}

export interface SinkContext {
  config: ExchangeConfig;
  recordStore: RecordStore;
  reporter: Reporter;
}

/** A sink as a plain object in the registry: how to open it, and what `setup` must prepare for it. */
export interface SinkPlugin {
  name: SinkName;
  open(context: SinkContext): Promise<Sink>;
  setup?(context: SinkContext): Promise<string[]>;
  check?(context: SinkContext): Promise<string[]>;
}
