import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { entityTypes, type EntityType } from './entity-types.js';
import { fastEnvelope, isValidUserData } from './envelope-fast-path.js';

/**
 * The one schema module for messages (DESIGN §6). Entities are loose objects: the named fields
 * are typed, extra fields (1C's opaque НомерВерсии, a variant's parentId, …) travel along.
 */
const isoDateTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 date');
const optionalText = z.string().nullish();
const money = z.number().finite();

const bankAccount = z.looseObject({
  number: z.string(),
  bank: optionalText,
  bic: optionalText,
  correspondentAccount: optionalText,
});

export const userDataSchema = z.looseObject({
  name: z.string().min(1),
  fullName: optionalText,
  inn: optionalText,
  kpp: optionalText,
  email: optionalText,
  phone: optionalText,
  address: optionalText,
  bankAccounts: z.array(bankAccount).optional(),
});

const price = z.looseObject({
  typeId: optionalText,
  type: optionalText,
  value: money,
  currency: optionalText,
});

export const productDataSchema = z.looseObject({
  name: z.string().nullish(),
  sku: optionalText,
  description: optionalText,
  groupIds: z.array(z.string()).optional(),
  unit: optionalText,
  barcode: optionalText,
  prices: z.array(price).optional(),
  stock: money.nullish(),
  properties: z.record(z.string(), z.unknown()).optional(),
  characteristics: z.array(z.looseObject({ name: z.string(), value: z.string() })).optional(),
  deleted: z.boolean().optional(),
  parentId: optionalText,
});

export const mutualSettlementsDataSchema = z.looseObject({
  number: optionalText,
  date: isoDateTime.nullish(),
  counterpartyId: optionalText,
  contract: optionalText,
  currency: optionalText,
  amount: money.nullish(),
  debit: money.nullish(),
  credit: money.nullish(),
  balance: money.nullish(),
  orderIds: z.array(z.string()).optional(),
  lines: z.array(z.unknown()).optional(),
});

/** A Central Bank of Russia rate: `value` roubles for `nominal` units of the currency on `date` (YYYY-MM-DD). */
export const rateDataSchema = z.looseObject({
  charCode: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 letter code'),
  numCode: optionalText,
  name: optionalText,
  nominal: z.number().int().positive(),
  value: money,
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD'),
});

/** One event of an EDI box's feed (Kontur.Diadoc): what happened to which documents, between which boxes. */
export const ediEventDataSchema = z.looseObject({
  messageId: optionalText,
  documentIds: z.array(z.string()).optional(),
  documentTypes: z.array(z.string()).optional(),
  counteragentBoxId: optionalText,
  timestamp: isoDateTime.nullish(),
});

export const entityDataSchemas = {
  user: userDataSchema,
  product: productDataSchema,
  mutualsettlements: mutualSettlementsDataSchema,
  rate: rateDataSchema,
  'edi-event': ediEventDataSchema,
} satisfies Record<EntityType, z.ZodType>;

export const envelopeSchema = z.object({
  type: z.enum(entityTypes),
  op: z.enum(['upsert', 'delete']),
  id: z.string().min(1),
  version: z.string().min(1),
  source: z.string().min(1).default('unknown'),
  occurredAt: isoDateTime.optional(),
  data: z.record(z.string(), z.unknown()).nullish(),
});

export type Envelope = z.infer<typeof envelopeSchema> & { data?: Record<string, unknown> | null };

export type ParseResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; code: 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'WRONG_TYPE'; reason: string };

/** Parses and validates a message body; a failure is permanent (the message can never succeed). */
export function parseEnvelope(body: Buffer | string, expectedType?: EntityType): ParseResult {
  let raw: unknown;
  // Bytes that are not UTF-8 would decode to U+FFFD and be stored as text nobody sent: refused, not repaired.
  if (typeof body !== 'string' && !isUtf8(body)) return { ok: false, code: 'INVALID_JSON', reason: 'body is not JSON: it is not valid UTF-8' };
  try {
    raw = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    return { ok: false, code: 'INVALID_JSON', reason: `body is not JSON: ${(error as Error).message}` };
  }
  return validateEnvelope(raw, expectedType);
}

export function validateEnvelope(raw: unknown, expectedType?: EntityType): ParseResult {
  // A valid envelope without zod (same verdict, same output); anything else is judged, and worded, by the schema.
  const fast = fastEnvelope(raw) as Envelope | undefined;
  return fast ? checkEnvelope(fast, expectedType, true) : validateEnvelopeBySchema(raw, expectedType);
}

/** validateEnvelope by the zod schemas alone: the verdict and the error text of every case. */
export function validateEnvelopeBySchema(raw: unknown, expectedType?: EntityType): ParseResult {
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, code: 'SCHEMA_VIOLATION', reason: formatIssues(parsed.error.issues) };
  return checkEnvelope(parsed.data as Envelope, expectedType, false);
}

/** The checks past the envelope's own shape: the queue's type, data for an upsert, the type's data schema. */
function checkEnvelope(envelope: Envelope, expectedType: EntityType | undefined, fast: boolean): ParseResult {
  if (expectedType && envelope.type !== expectedType) {
    return { ok: false, code: 'WRONG_TYPE', reason: `message of type "${envelope.type}" on a "${expectedType}" queue` };
  }
  if (envelope.op === 'upsert') {
    if (!envelope.data) return { ok: false, code: 'SCHEMA_VIOLATION', reason: 'data: required for an upsert' };
    if (fast && envelope.type === 'user' && isValidUserData(envelope.data)) return { ok: true, envelope };
    const data = entityDataSchemas[envelope.type].safeParse(envelope.data);
    if (!data.success) return { ok: false, code: 'SCHEMA_VIOLATION', reason: formatIssues(data.error.issues, 'data') };
    // The data stays as it came (zod's copy would put schema keys first): the content hash of the
    // records sink then matches the one the import computed for the same record.
  }
  return { ok: true, envelope };
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix?: string): string {
  return issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

export function messageIdOf(envelope: Pick<Envelope, 'type' | 'id' | 'version'>): string {
  return `${envelope.type}:${envelope.id}:${envelope.version}`;
}

export function routingKeyOf(envelope: Pick<Envelope, 'type' | 'op'>): string {
  return `${envelope.type}.${envelope.op}`;
}
