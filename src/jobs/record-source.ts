import { ExchangeError } from '../errors.js';
import { entityTypes, type EntityType } from '../messages/entity-types.js';
import type { Envelope } from '../messages/envelope.js';
import { readEnvelopeLines } from '../messages/json-lines.js';
import type { PriceTypes } from '../onec/commerceml-products.js';
import { detectFileKind } from '../onec/detect-file-kind.js';
import type { CommerceMlHeader, CommerceMlPackage, OneCRecord } from '../onec/one-c-record.js';
import { readCommerceMl } from '../onec/read-commerceml.js';
import { readOneCCsv } from '../onec/read-csv.js';

export interface RecordSourceOptions {
  priceTypes?: PriceTypes;
  /** CSV header → field overrides (config `import.csvMapping`). */
  csvMapping?: Readonly<Record<string, string>>;
  /** The zone of 1C's zone-less dates (config `import.timeZone`); versions never depend on the process's TZ. */
  timeZone?: string;
  onHeader?: (header: CommerceMlHeader) => void;
  onPackage?: (pkg: CommerceMlPackage) => void;
  /** Told the bytes read so far, for the CommerceML and CSV readers (progress against the file's size). */
  onBytes?: (bytesRead: number) => void;
}

/** The records of one input file, whatever its kind (CommerceML, CSV, JSON lines), told by its content. */
export async function readRecords(file: string, type: EntityType | 'all', options: RecordSourceOptions = {}): Promise<AsyncIterable<SourceRecord>> {
  const kind = await detectFileKind(file);
  const { csvMapping, ...commerceMl } = options;
  if (kind === 'commerceml') return readCommerceMl(file, { types: type === 'all' ? entityTypes : [type], ...commerceMl });
  if (kind === 'csv') {
    if (type === 'all') {
      throw new ExchangeError('USAGE', `${file}: a CSV export holds one type, and "all" cannot tell which`, { hint: `name the type: ${entityTypes.join(', ')}` });
    }
    return readOneCCsv(file, { type, mapping: csvMapping, timeZone: options.timeZone, onBytes: options.onBytes });
  }
  return envelopeRecords(file, type);
}

async function* envelopeRecords(file: string, type: EntityType | 'all'): AsyncGenerator<SourceRecord, void, undefined> {
  for await (const { envelope, line, text } of readEnvelopeLines(file, type === 'all' ? undefined : type)) {
    yield { type: envelope.type, id: envelope.id, op: envelope.op, version: envelope.version, data: envelope.data ?? {}, source: { file, line }, origin: envelope, originText: text };
  }
}

/** A JSON-lines record keeps the message it came as and its line, so `publish` sends it exactly as written. */
export type SourceRecord = OneCRecord & { origin?: Envelope; originText?: string };

/** A record as the change event or fixture message that carries it (DESIGN §6). */
export function envelopeOf(record: Pick<SourceRecord, 'type' | 'id' | 'op' | 'version' | 'origin'> & { data: Record<string, unknown> | null }, source = '1c'): Envelope {
  if (record.origin) return record.origin;
  return {
    type: record.type, op: record.op, id: record.id, version: record.version, source, occurredAt: new Date().toISOString(),
    ...(record.op === 'delete' || !record.data ? {} : { data: record.data }),
  };
}
