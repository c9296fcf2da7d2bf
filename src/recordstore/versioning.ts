import { createHash } from 'node:crypto';
import type { RecordWrite, WriteOutcome } from './record-store.js';

/**
 * Versions are strings that order (DESIGN §6): ISO-8601 times or zero-padded counters.
 * The store keeps a sort key beside the version so that SQL can compare versions in a WHERE clause:
 * times become UTC ISO strings (fixed width), counters are left-padded, anything else sorts as text.
 */
export function versionKey(version: string): string {
  if (/^\d+$/.test(version)) return `n:${version.padStart(24, '0')}`;
  if (/^\d{4}-\d{2}-\d{2}/.test(version)) {
    const time = Date.parse(version);
    if (!Number.isNaN(time)) return `t:${new Date(time).toISOString()}`;
  }
  return `s:${version}`;
}

/** Canonical JSON (sorted keys) so equal content always hashes alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function contentHash(write: Pick<RecordWrite, 'op' | 'data'>): string {
  const content = write.op === 'delete' ? 'deleted' : canonicalJson(write.data ?? null);
  return createHash('sha256').update(content).digest('hex').slice(0, 32);
}

export interface ExistingRow {
  versionKey: string;
  hash: string;
}

export interface PlannedRow {
  write: RecordWrite;
  versionKey: string;
  hash: string;
  /** false when only the version moves forward (same content): no change event. */
  changed: boolean;
}

/**
 * Decides, for one batch, what each write does against the rows already stored.
 * Writes are judged in order, each against the state the earlier ones left.
 */
export function planBatch(writes: RecordWrite[], existing: Map<string, ExistingRow>): { outcomes: WriteOutcome[]; rows: PlannedRow[] } {
  const outcomes: WriteOutcome[] = new Array(writes.length);
  const current = new Map(existing);
  const planned = new Map<string, PlannedRow>();
  for (let index = 0; index < writes.length; index++) {
    const write = writes[index];
    const key = recordKey(write.type, write.id);
    const row: PlannedRow = { write, versionKey: versionKey(write.version), hash: contentHash(write), changed: true };
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
