import fs from 'node:fs';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import { defaultCsvMapping, normalizeHeader } from './csv-mapping.js';
import { readDecodedText } from './decoded-text.js';
import type { OneCRecord } from './one-c-record.js';
import { OneCValueError, compact, defaultOneCTimeZone, parseOneCBoolean, parseOneCDate, parseOneCNumber, parseOneCVersion } from './one-c-values.js';

export interface CsvOptions {
  /** A CSV export holds one entity type; the command line says which. */
  type: EntityType;
  /** Header → field, merged over defaultCsvMapping (config overrides). */
  mapping?: Readonly<Record<string, string>>;
  /** Version for rows without a Версия/ДатаИзменения column; defaults to the file's mtime. */
  version?: string;
  /**
   * The IANA zone of 1C's zone-less dates (config `import.timeZone`, default Europe/Moscow): a date version
   * column becomes a UTC version, a date column with a time gets this zone's offset (see one-c-values.ts).
   */
  timeZone?: string;
  /** Told the encoding and delimiter chosen, before the first record. */
  onFormat?: (format: { encoding: string; delimiter: string }) => void;
  /** Told the bytes read so far (progress against the file's size). */
  onBytes?: (bytesRead: number) => void;
}

const NUMBER_FIELDS = new Set(['price', 'stock', 'amount', 'debit', 'credit', 'balance']);
const HINT = 'fix the row or the header mapping and run again; nothing from this file was imported';

/**
 * Reads a 1C CSV export as a stream of records: `;` or `,` (from the header line), quoted fields,
 * UTF-8 with or without BOM or windows-1251 (detected), columns mapped by header name. Errors name the
 * file, the line and the column.
 */
export async function* readOneCCsv(file: string, options: CsvOptions): AsyncGenerator<OneCRecord, void, undefined> {
  const mapping = Object.fromEntries(
    Object.entries({ ...defaultCsvMapping, ...options.mapping }).map(([header, field]) => [normalizeHeader(header), field]),
  );
  let encoding = 'utf-8';
  const text = readDecodedText(file, { onEncoding: (chosen) => (encoding = chosen), onBytes: options.onBytes });
  const first = await text.next();
  if (first.done) return;
  const delimiter = detectDelimiter(first.value);
  options.onFormat?.({ encoding, delimiter });
  const source = Readable.from(
    (async function* () {
      yield first.value;
      yield* text;
    })(),
  );
  const rows = parse({ delimiter, bom: true, skip_empty_lines: true, info: true, relax_quotes: false });
  source.on('error', (error) => rows.destroy(error));
  source.pipe(rows);

  let columns: { header: string; field?: string }[] | undefined;
  let fallbackVersion = options.version;
  try {
    for await (const { record, info } of rows as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (!columns) {
        columns = record.map((header) => ({ header: header.trim(), field: mapping[normalizeHeader(header)] }));
        if (!columns.some((c) => c.field === 'id' || c.field === 'code')) {
          throw new ExchangeError('BAD_INPUT', `${file}:${info.lines}:1: no id column in the header (${record.join(delimiter)})`, {
            hint: 'the header needs an Ид, Идентификатор or Код column, or a mapping for the one that holds the id',
          });
        }
        continue;
      }
      fallbackVersion ??= (await fs.promises.stat(file)).mtime.toISOString();
      yield rowToRecord(record, columns, info.lines, file, options.type, fallbackVersion, options.timeZone ?? defaultOneCTimeZone);
    }
  } catch (error) {
    if (error instanceof ExchangeError) throw error;
    const lines = (error as { lines?: number }).lines;
    throw new ExchangeError('BAD_INPUT', `${file}:${lines ?? '?'}: ${(error as Error).message}`, { hint: HINT, cause: error });
  }
}

function rowToRecord(
  record: string[],
  columns: { header: string; field?: string }[],
  line: number,
  file: string,
  type: EntityType,
  fallbackVersion: string,
  timeZone: string,
): OneCRecord {
  const fields: Record<string, unknown> = {};
  columns.forEach(({ header, field }, index) => {
    const raw = record[index]?.trim();
    if (!field || raw === undefined || raw === '') return;
    try {
      fields[field] = convert(field, raw, timeZone);
    } catch (error) {
      if (!(error instanceof OneCValueError)) throw error;
      throw new ExchangeError('BAD_INPUT', `${file}:${line}:${index + 1}: column "${header}": ${error.message}`, { hint: HINT });
    }
  });
  const { id, code, version, price, currency, deleted, ...rest } = fields as Record<string, unknown> & { id?: string; code?: string };
  const recordId = id ?? code;
  if (!recordId) throw new ExchangeError('BAD_INPUT', `${file}:${line}:1: the row has no id (Ид/Код is empty)`, { hint: HINT });
  const data: Record<string, unknown> = compact({ ...rest, code, deleted: deleted === true ? true : undefined });
  if (type === 'product') {
    if (price !== undefined) data.prices = [{ typeId: null, type: null, value: price, currency: currency ?? null }];
  } else if (currency !== undefined) {
    data.currency = currency;
  }
  if (type === 'user' && !data.name) {
    throw new ExchangeError('BAD_INPUT', `${file}:${line}:1: the row has no name (Наименование is empty)`, { hint: HINT });
  }
  return {
    type,
    id: String(recordId),
    op: deleted === true ? 'delete' : 'upsert',
    version: (version as string | undefined) ?? fallbackVersion,
    data,
    source: { file, line },
  };
}

function convert(field: string, raw: string, timeZone: string): unknown {
  if (NUMBER_FIELDS.has(field)) return parseOneCNumber(raw);
  if (field === 'date') return parseOneCDate(raw, undefined, timeZone);
  if (field === 'deleted') return parseOneCBoolean(raw);
  if (field === 'orderIds') return raw.split(/[,;]\s*/).filter(Boolean);
  // A version that is a date becomes the same canonical UTC form as ДатаФормирования (read in import.timeZone),
  // so the two order together; a counter stays as is.
  if (field === 'version') return /^\d{1,2}\.\d{1,2}\.\d{4}|^\d{4}-\d{2}-\d{2}/.test(raw) ? parseOneCVersion(raw, timeZone) : raw;
  return raw;
}

/** The delimiter used most often, outside quotes, on the header line. */
function detectDelimiter(text: string): string {
  const end = text.search(/\r?\n/);
  const header = (end === -1 ? text : text.slice(0, end)).replace(/"[^"]*"/g, '');
  const counts = [';', ',', '\t'].map((d) => [d, header.split(d).length - 1] as const);
  const [best] = counts.reduce((a, b) => (b[1] > a[1] ? b : a));
  return counts.some(([, n]) => n > 0) ? best : ';';
}
