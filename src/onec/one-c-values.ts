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

/** The zone 1C writes its dates in when config says nothing (`import.timeZone`): most 1C bases keep Moscow time. */
export const defaultOneCTimeZone = 'Europe/Moscow';

/** A 1C date split into its fields; `zone` is what 1C wrote (Z or ±hh:mm), absent for local time. */
interface OneCDateParts {
  year: number; month: number; day: number;
  hour?: number; minute?: number; second?: number; millisecond?: number;
  zone?: string;
}

function splitOneCDate(value: string, time?: string): OneCDateParts | undefined {
  const trimmed = value.trim();
  let parts: (string | undefined)[] | undefined;
  const iso = isoDate.exec(trimmed);
  if (iso) parts = iso.slice(1, 9);
  const ru = iso ? null : russianDate.exec(trimmed);
  if (ru) parts = [ru[3], ru[2], ru[1], ru[4], ru[5], ru[6]];
  if (!parts) throw new OneCValueError(`not a date: "${value}"`);
  const [year, month, day, hour, minute, second, fraction, zone] = parts;
  if (year === '0001') return undefined;
  const result: OneCDateParts = { year: Number(year), month: Number(month), day: Number(day) };
  let clock = hour === undefined ? undefined : [hour, minute!, second];
  if (clock === undefined && time?.trim()) {
    const t = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(time.trim());
    if (!t) throw new OneCValueError(`not a time: "${time}"`);
    clock = [t[1], t[2], t[3]];
  }
  if (clock) {
    result.hour = Number(clock[0]);
    result.minute = Number(clock[1]);
    result.second = Number(clock[2] ?? 0);
    result.millisecond = fraction ? Math.floor(Number(`0${fraction}`) * 1000) : 0;
    if (zone) result.zone = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  }
  // Date.UTC rolls 31.02 over into March: a date that does not survive the round trip does not exist.
  const check = new Date(Date.UTC(result.year, result.month - 1, result.day, result.hour ?? 0, result.minute ?? 0, result.second ?? 0));
  if (
    check.getUTCFullYear() !== result.year || check.getUTCMonth() !== result.month - 1 || check.getUTCDate() !== result.day ||
    check.getUTCHours() !== (result.hour ?? 0) || check.getUTCMinutes() !== (result.minute ?? 0) || check.getUTCSeconds() !== (result.second ?? 0) ||
    (result.zone !== undefined && result.zone !== 'Z' && !/^[+-](0\d|1[0-4]):[0-5]\d$/.test(result.zone))
  ) {
    throw new OneCValueError(`not a date: "${value}"`);
  }
  return result;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for a name Intl does not know (config validation relies on it). */
function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = zoneFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
    });
    zoneFormatters.set(timeZone, formatter);
  }
  return formatter;
}

export function isKnownTimeZone(timeZone: string): boolean {
  try {
    zoneFormatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Minutes the zone is ahead of UTC at the instant `utcMs` (+180 for Moscow today). */
function zoneOffsetMinutes(utcMs: number, timeZone: string): number {
  const fields: Record<string, string> = {};
  for (const part of zoneFormatter(timeZone).formatToParts(new Date(utcMs))) fields[part.type] = part.value;
  const year = fields.era === 'BC' || fields.era === 'B' ? 1 - Number(fields.year) : Number(fields.year);
  const wall = Date.UTC(year, Number(fields.month) - 1, Number(fields.day), Number(fields.hour), Number(fields.minute), Number(fields.second));
  return Math.round((wall - (utcMs - (((utcMs % 1000) + 1000) % 1000))) / 60_000);
}

/**
 * The UTC instant of a wall-clock time in a zone, and the zone's offset there. Offsets around the wall time
 * are tried as candidates (the zone's offsets a day before, at and a day after it cover a transition): a wall
 * time that happens twice (clocks set back) is its first occurrence; one that never happens (clocks set
 * forward) is moved forward by the gap, as a clock that was not yet changed would read it.
 */
function wallTimeInZone(parts: OneCDateParts, timeZone: string): { utcMs: number; offsetMinutes: number } {
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, parts.millisecond ?? 0);
  const offsets = [...new Set([-86_400_000, 0, 86_400_000].map((shift) => zoneOffsetMinutes(wall + shift, timeZone)))];
  const matches = offsets.map((offset) => wall - offset * 60_000).filter((utc) => zoneOffsetMinutes(utc, timeZone) * 60_000 === wall - utc);
  if (matches.length > 0) {
    const utcMs = Math.min(...matches);
    return { utcMs, offsetMinutes: (wall - utcMs) / 60_000 };
  }
  // In a gap: read with the offset in force before it, which lands after the gap.
  const before = zoneOffsetMinutes(wall - 86_400_000, timeZone);
  const utcMs = wall - before * 60_000;
  return { utcMs, offsetMinutes: zoneOffsetMinutes(utcMs, timeZone) };
}

function isoDay(parts: OneCDateParts): string {
  return `${pad(parts.year, 4)}-${pad(parts.month)}-${pad(parts.day)}`;
}

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * Normalizes a 1C date (and an optional separate time, as documents carry Дата and Время apart) to
 * ISO-8601 for a record's data. 1C writes local time without an offset. A date-time without one is given
 * the offset `timeZone` (config `import.timeZone`) had at that moment, so it names one instant wherever it
 * is read (never the reading process's zone): `2007-10-30T15:19:27+03:00`. A bare calendar date stays a
 * date (`2015-06-29`): it names a day, not an instant. An offset 1C wrote is kept as written.
 * 1C's empty date (0001-01-01) means "no date".
 */
export function parseOneCDate(value: string | undefined, time?: string, timeZone: string = defaultOneCTimeZone): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const parts = splitOneCDate(value, time);
  if (!parts) return undefined;
  if (parts.hour === undefined) return isoDay(parts);
  const fraction = parts.millisecond ? `.${pad(parts.millisecond, 3)}` : '';
  const clock = `${pad(parts.hour)}:${pad(parts.minute!)}:${pad(parts.second!)}${fraction}`;
  const offset = parts.zone ?? formatOffset(wallTimeInZone(parts, timeZone).offsetMinutes);
  return `${isoDay(parts)}T${clock}${offset}`;
}

/**
 * A 1C date that becomes a record's version (ДатаФормирования, a CSV change-date column), as the canonical
 * UTC string `YYYY-MM-DDTHH:mm:ss.sssZ`: zone-less times (and bare dates, at midnight) are read in `timeZone`,
 * so the same file gives the same version under any process TZ, and versions of files from different
 * writers order by the instant 1C wrote them.
 */
export function parseOneCVersion(value: string | undefined, timeZone: string = defaultOneCTimeZone): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const parts = splitOneCDate(value);
  if (!parts) return undefined;
  let utcMs: number;
  if (parts.zone !== undefined) {
    const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour!, parts.minute!, parts.second!, parts.millisecond!);
    const sign = parts.zone.startsWith('-') ? -1 : 1;
    const offset = parts.zone === 'Z' ? 0 : sign * (Number(parts.zone.slice(1, 3)) * 60 + Number(parts.zone.slice(4, 6)));
    utcMs = wall - offset * 60_000;
  } else {
    utcMs = wallTimeInZone(parts, timeZone).utcMs;
  }
  return new Date(utcMs).toISOString();
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
