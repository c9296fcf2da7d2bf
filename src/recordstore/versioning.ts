import { hash } from 'node:crypto';
import type { RecordWrite, WriteOutcome } from './record-store.js';

/**
 * Versions are strings that order (DESIGN §6): ISO-8601 times or zero-padded counters.
 * The store keeps a sort key beside the version so that SQL can compare versions in a WHERE clause:
 * times become UTC ISO strings (fixed width), counters are left-padded, anything else sorts as text.
 */
const canonicalUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const zonelessTime = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/;
const bareDate = /^\d{4}-\d{2}-\d{2}$/;
/** What follows the date names the zone at its end: Z, an offset (+0300, +03:00), or UTC/GMT. */
const explicitZone = /(?:Z|[+-]\d{2}:?\d{2}|\s(?:UTC|GMT))$/i;

/**
 * The sort key of a version. It never depends on the process's time zone (Date.parse reads a zone-less
 * date-time as local time): a zone-less ISO time that still reaches the store (a JSON-lines message, a
 * producer other than our 1C readers, which give UTC) is taken as UTC, so every process, whatever its TZ,
 * orders it alike. Our readers never produce one: they read 1C's zone-less dates in import.timeZone.
 */
export function versionKey(version: string): string {
  // The common case, already in the normalised form: no Date round trip on the hot path.
  if (canonicalUtc.test(version)) return `t:${version}`;
  if (/^\d+$/.test(version)) return `n:${version.padStart(24, '0')}`;
  if (/^\d{4}-\d{2}-\d{2}/.test(version)) {
    const zoneless = zonelessTime.exec(version);
    // A bare date (2026-11-22) is UTC midnight for Date.parse already, and a time with its zone is that
    // instant; anything else without a zone (`2026-11-22 1:15`, `… 10:15 AM`) Date.parse would read in the
    // process's zone, so it is text: ordered alike by every process, like every other malformed time.
    const certain = zoneless || bareDate.test(version) || explicitZone.test(version.slice(10));
    const time = certain ? Date.parse(zoneless ? `${zoneless[1]}T${zoneless[2]}Z` : version) : Number.NaN;
    if (!Number.isNaN(time)) return `t:${new Date(time).toISOString()}`;
  }
  return `s:${version}`;
}

/** -1, 0, 1 as `a` is older than, the same as, or newer than `b` (versions order, DESIGN §6). */
export function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * The content hash is taken over the data exactly as it is stored (JSON.stringify keeps the key order the
 * producer gave). Our 1C mappers build objects in a fixed order, so equal content hashes alike; a producer
 * that reorders keys costs one harmless rewrite, not a lost change. Serializing once serves both.
 */
export function serializeData(write: Pick<RecordWrite, 'op' | 'data'>): string | null {
  return write.op === 'delete' ? null : JSON.stringify(write.data ?? null);
}

export function contentHash(json: string | null): string {
  // The one-shot crypto.hash: the same SHA-256, without a Hash object per record (half the cost on a drain).
  return hash('sha256', json ?? '\u0000deleted', 'hex').slice(0, 32);
}

export interface ExistingRow {
  versionKey: string;
  hash: string;
}

export interface PlannedRow {
  write: RecordWrite;
  versionKey: string;
  hash: string;
  /** The data as stored; null for a delete (a tombstone). */
  json: string | null;
  /** false when only the version moves forward (same content): no change event. */
  changed: boolean;
}

/**
 * Decides, for one batch, what each write does against the rows already stored.
 * Writes are judged in order, each against the state the earlier ones left.
 */
export function planBatch(writes: RecordWrite[], existing: Map<string, ExistingRow>): { outcomes: WriteOutcome[]; rows: PlannedRow[] } {
  return planPrepared(prepareRows(writes), existing);
}

/** Each write with its sort key, stored JSON and content hash, computed once (a store may need them before planning). */
export function prepareRows(writes: RecordWrite[]): PlannedRow[] {
  return writes.map((write) => {
    const json = serializeData(write);
    return { write, versionKey: versionKey(write.version), hash: contentHash(json), json, changed: true };
  });
}

/** planBatch over rows from prepareRows (each is planned once: they are copied, not changed). */
export function planPrepared(prepared: PlannedRow[], existing: Map<string, ExistingRow>): { outcomes: WriteOutcome[]; rows: PlannedRow[] } {
  const outcomes: WriteOutcome[] = new Array(prepared.length);
  const current = new Map(existing);
  const planned = new Map<string, PlannedRow>();
  for (let index = 0; index < prepared.length; index++) {
    const row: PlannedRow = { ...prepared[index] };
    const { write } = row;
    const key = recordKey(write.type, write.id);
    const before = current.get(key);
    if (before && before.versionKey > row.versionKey) {
      outcomes[index] = 'stale';
      continue;
    }
    if (before && before.hash === row.hash) {
      outcomes[index] = 'unchanged';
      if (before.versionKey === row.versionKey) continue;
      row.changed = false;
    } else {
      outcomes[index] = 'written';
    }
    // Judged as if applied one after another; only the last of an entity is physically written,
    // and it carries a change event if any write of the chain changed the content.
    if (planned.get(key)?.changed) row.changed = true;
    planned.set(key, row);
    current.set(key, { versionKey: row.versionKey, hash: row.hash });
  }
  return { outcomes, rows: [...planned.values()] };
}

export function recordKey(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

/**
 * The smallest version that orders after `version`: one millisecond later for a time, one more for a counter
 * (same width). The importer gives a change of content that would otherwise share its version with the stored
 * record this version instead (DESIGN §12: two events of one record with different content never share a
 * version). Undefined for a version that does not order (kept as it is).
 */
export function nextVersion(version: string): string | undefined {
  const key = versionKey(version);
  if (key.startsWith('t:')) return new Date(Date.parse(key.slice(2)) + 1).toISOString();
  if (key.startsWith('n:')) return (BigInt(version) + 1n).toString().padStart(version.length, '0');
  return undefined;
}
