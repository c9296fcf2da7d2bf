import { entityTypes, type EntityType } from './entity-types.js';

/**
 * Hand-written checks for the common case of DESIGN §6 envelopes, without building zod's result objects: a
 * drain validates every message, and zod's parse was a fifth of its CPU. They only ever say "certainly valid";
 * anything they do not recognise goes to the zod schemas in envelope.ts, which give the verdict and the error
 * text. So the errors are the schema's by construction, and what the fast path accepts must be exactly what the
 * schema accepts with the same output (test/unit/envelope-fast-path.test.ts compares the two).
 */

type Plain = Record<string, unknown>;

/** The envelope as zod's envelopeSchema outputs it (keys in schema order, `source` defaulted), or undefined. */
export interface FastEnvelope {
  type: EntityType;
  op: 'upsert' | 'delete';
  id: string;
  version: string;
  source: string;
  occurredAt?: string;
  data?: Plain | null;
}

const types: ReadonlySet<unknown> = new Set(entityTypes);

export function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isOptionalText = (value: unknown): boolean => value === undefined || value === null || typeof value === 'string';
const isIsoDateTime = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));

export function fastEnvelope(raw: unknown): FastEnvelope | undefined {
  if (!isPlainObject(raw)) return undefined;
  const { type, op, id, version, source, occurredAt, data } = raw;
  if (!types.has(type) || (op !== 'upsert' && op !== 'delete') || !isText(id) || !isText(version)) return undefined;
  if (source !== undefined && !isText(source)) return undefined;
  if (occurredAt !== undefined && !isIsoDateTime(occurredAt)) return undefined;
  // zod copies a record key by key; a "__proto__" key would not survive that copy: left to zod.
  if (data !== undefined && data !== null && (!isPlainObject(data) || Object.hasOwn(data, '__proto__'))) return undefined;
  const envelope: FastEnvelope = { type: type as EntityType, op, id, version, source: source ?? 'unknown' };
  // As zod does: an optional key present with the value undefined (never from JSON) stays present.
  if (occurredAt !== undefined || 'occurredAt' in raw) envelope.occurredAt = occurredAt as string | undefined;
  if (data !== undefined || 'data' in raw) envelope.data = data as Plain | null | undefined;
  return envelope;
}

/** True only when userDataSchema certainly accepts `data` (a loose object: other keys pass as they are). */
export function isValidUserData(data: Plain): boolean {
  if (!isText(data.name)) return false;
  if (!isOptionalText(data.fullName) || !isOptionalText(data.inn) || !isOptionalText(data.kpp)) return false;
  if (!isOptionalText(data.email) || !isOptionalText(data.phone) || !isOptionalText(data.address)) return false;
  const accounts = data.bankAccounts;
  if (accounts === undefined) return true;
  if (!Array.isArray(accounts)) return false;
  for (const account of accounts) {
    if (!isPlainObject(account) || typeof account.number !== 'string') return false;
    if (!isOptionalText(account.bank) || !isOptionalText(account.bic) || !isOptionalText(account.correspondentAccount)) return false;
  }
  return true;
}
