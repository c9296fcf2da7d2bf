/**
 * Value conversions shared by the CommerceML and CSV readers. 1C writes numbers with a comma or a dot
 * and groups thousands with (non-breaking) spaces, dates as ISO or dd.mm.yyyy, and booleans in two
 * languages; the record format wants numbers as numbers and dates as ISO-8601 (DESIGN §6).
 * A value that cannot be converted throws OneCValueError; the reader adds file, line and column.
 */
export class OneCValueError extends Error {
  override readonly name = 'OneCValueError';
}

/** Text of a parsed XML node: a leaf string, or the text of an element that also has attributes. */
export function text(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'object') return Array.isArray(node) ? text(node[0]) : text((node as Record<string, unknown>)['#text']);
  const value = String(node).trim();
  return value === '' ? undefined : value;
}

/** fast-xml-parser gives one child as an object and several as an array; mappers always want arrays. */
export function list<T = Record<string, unknown>>(node: unknown): T[] {
  if (node === undefined || node === null || node === '') return [];
  return (Array.isArray(node) ? node : [node]) as T[];
}

export function parseOneCNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const compact = value.replace(/[\s\u00a0\u202f]/g, '').replace(',', '.');
  if (compact === '') return undefined;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(compact)) throw new OneCValueError(`not a number: "${value}"`);
  return Number(compact);
}

const isoDate = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const russianDate = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * Normalizes a 1C date (and an optional separate time, as documents carry Дата and Время apart) to
 * ISO-8601. 1C writes local time without an offset; it stays that way rather than guessing a zone.
 * 1C's empty date (0001-01-01) means "no date".
 */
export function parseOneCDate(value: string | undefined, time?: string): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  let parts: string[] | undefined;
  const iso = isoDate.exec(trimmed);
  if (iso) parts = [iso[1], iso[2], iso[3], iso[4], iso[5], iso[6], iso[7], iso[8]];
  const ru = iso ? null : russianDate.exec(trimmed);
  if (ru) parts = [ru[3], ru[2], ru[1], ru[4], ru[5], ru[6]];
  if (!parts) throw new OneCValueError(`not a date: "${value}"`);
  const [year, month, day, hour, minute, second, fraction, zone] = parts;
  if (year === '0001') return undefined;
  const date = `${year}-${month.padStart(2, '0')}-${day.padStart(2, '0')}`;
  let clock = hour === undefined ? undefined : `${hour.padStart(2, '0')}:${minute}:${second ?? '00'}${fraction ?? ''}${zone ?? ''}`;
  if (clock === undefined && time?.trim()) {
    const t = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(time.trim());
    if (!t) throw new OneCValueError(`not a time: "${time}"`);
    clock = `${t[1].padStart(2, '0')}:${t[2]}:${t[3] ?? '00'}`;
  }
  const result = clock === undefined ? date : `${date}T${clock}`;
  if (Number.isNaN(Date.parse(result))) throw new OneCValueError(`not a date: "${value}"`);
  return result;
}

export function parseOneCBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const normalized = value.trim().toLowerCase();
  if (['true', '1', 'да', 'истина', 'yes'].includes(normalized)) return true;
  if (['false', '0', 'нет', 'ложь', 'no', ''].includes(normalized)) return false;
  throw new OneCValueError(`not a boolean: "${value}"`);
}

/** Drops undefined fields so a partial record never overwrites a stored field with "nothing". */
export function compact<T extends Record<string, unknown>>(object: T): T {
  for (const key of Object.keys(object)) if (object[key] === undefined) delete object[key];
  return object;
}
