import type { EntityType } from '../messages/entity-types.js';
import type { RecordWrite, StoredRecord } from '../recordstore/record-store.js';
import { compareVersions, contentHash, nextVersion, serializeData } from '../recordstore/versioning.js';
import { envelopeOf } from './record-source.js';

export type PlannedWrite = Omit<RecordWrite, 'outboxMessage'>;

/**
 * A write with the change event that goes out when it changes the store (DESIGN §12): every event of a record
 * that changes its content orders after every earlier one. When the content changes but the version would not
 * move (two 1C files of one ДатаФормирования, a merge onto a newer piece, a source that re-sends a version with
 * other content), the record takes the next version after the stored one, and the event, which always carries
 * the whole record, carries that version. Imports and syncs write through this one function.
 */
export function withEvent(write: PlannedWrite, stored: StoredRecord | undefined, source = '1c'): RecordWrite {
  let version = write.version;
  if (stored && compareVersions(version, stored.version) <= 0 && contentHash(serializeData(write)) !== stored.hash) {
    version = nextVersion(stored.version) ?? version;
  }
  return { ...write, version, outboxMessage: eventOf(write.type, write.id, write.op, version, write.data, source) };
}

export function eventOf(type: EntityType, id: string, op: 'upsert' | 'delete', version: string, data: Record<string, unknown> | null, source = '1c'): string {
  return JSON.stringify(envelopeOf({ type, id, op, version, data }, source));
}
