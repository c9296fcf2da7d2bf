import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import type { RunRow, StoredRecord } from '../recordstore/record-store.js';
import type { JobContext } from './job-context.js';
import { withGoneStatus } from './run-journal.js';

export async function countRecords(context: JobContext, type: EntityType): Promise<number> {
  return (await context.recordStore()).count(type);
}

export async function getRecord(context: JobContext, type: EntityType, id: string): Promise<StoredRecord> {
  const record = await (await context.recordStore()).get(type, id);
  if (!record) throw new ExchangeError('NOT_FOUND', `not found: ${type} ${id}`, { hint: `\`exchange records list ${type}\` shows the ids` });
  return record;
}

export async function listRecords(context: JobContext, type: EntityType, options: { limit: number; afterId?: string }): Promise<StoredRecord[]> {
  return (await context.recordStore()).list(type, options);
}

/** The run journal, newest first. */
export async function listRuns(context: JobContext, limit: number): Promise<RunRow[]> {
  return (await context.recordStore()).listRuns(limit).then((runs) => runs.map(withGoneStatus));
}
