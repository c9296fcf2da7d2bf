import { describe, expect, it } from 'vitest';
import { messageIdOf, parseEnvelope, routingKeyOf } from '../../src/messages/envelope.js';

const product = {
  type: 'product', op: 'upsert', id: 'bd72d8f9-55bc-11d9-848a-00112f43529a', version: '2026-11-22T10:15:00.000Z', source: '1c',
  data: { name: 'Бумага А4', prices: [{ typeId: 'p1', type: 'Розничная', value: 389.5, currency: 'RUB' }], stock: 12, versionNumber: 'AAAAAQ==' },
};

describe('envelope validation (DESIGN §6)', () => {
  it('accepts a well-formed envelope and keeps extra entity fields', () => {
    const result = parseEnvelope(Buffer.from(JSON.stringify(product)), 'product');
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.envelope.data).toMatchObject({ versionNumber: 'AAAAAQ==', stock: 12 });
      expect(messageIdOf(result.envelope)).toBe('product:bd72d8f9-55bc-11d9-848a-00112f43529a:2026-11-22T10:15:00.000Z');
      expect(routingKeyOf(result.envelope)).toBe('product.upsert');
    }
  });

  it('calls invalid JSON what it is', () => {
    expect(parseEnvelope('{"type":')).toMatchObject({ ok: false, code: 'INVALID_JSON' });
  });

  it('names the field of a schema violation, numbers must be numbers', () => {
    const bad = { ...product, data: { ...product.data, prices: [{ value: '389,50' }] } };
    const result = parseEnvelope(JSON.stringify(bad));
    expect(result).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    if (!result.ok) expect(result.reason).toContain('data.prices.0.value');
  });

  it('requires data on an upsert but not on a delete', () => {
    expect(parseEnvelope(JSON.stringify({ ...product, data: undefined }))).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    expect(parseEnvelope(JSON.stringify({ ...product, op: 'delete', data: undefined })).ok).toBe(true);
  });

  it('refuses an unknown op or type, and a message of another type on this queue', () => {
    expect(parseEnvelope(JSON.stringify({ ...product, op: 'merge' }))).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    expect(parseEnvelope(JSON.stringify({ ...product, type: 'invoice' }))).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    expect(parseEnvelope(JSON.stringify(product), 'user')).toMatchObject({ ok: false, code: 'WRONG_TYPE' });
  });

  it('checks ISO dates in mutual settlements', () => {
    const doc = { type: 'mutualsettlements', op: 'upsert', id: 'd1', version: '000001', source: '1c', data: { number: '1', date: '31.12.2026', amount: 1 } };
    expect(parseEnvelope(JSON.stringify(doc))).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    expect(parseEnvelope(JSON.stringify({ ...doc, data: { ...doc.data, date: '2026-12-31T00:00:00Z' } })).ok).toBe(true);
  });
});
