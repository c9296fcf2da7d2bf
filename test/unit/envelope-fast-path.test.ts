import { describe, expect, it } from 'vitest';
import { fastEnvelope, isValidUserData } from '../../src/messages/envelope-fast-path.js';
import { userDataSchema, validateEnvelope, validateEnvelopeBySchema } from '../../src/messages/envelope.js';
import type { EntityType } from '../../src/messages/entity-types.js';

const user = {
  type: 'user', op: 'upsert', id: 'u-1', version: '2026-11-22T10:15:00.000Z', source: '1c', occurredAt: '2026-11-22T10:15:03.120Z',
  data: { name: 'ООО «Ромашка»', inn: '7701234567', kpp: null, email: 'a@b.example', bankAccounts: [{ number: '40702810000000000001', bic: null }], extra: { nested: [1, 2] } },
};
const product = { type: 'product', op: 'upsert', id: 'p-1', version: '5', data: { name: 'Бумага', prices: [{ value: 1.5 }] } };

/** Variants of valid envelopes, each changed in one place: some still valid, most not. */
const cases: Array<[string, unknown]> = [
  ['user as sent', user],
  ['no source (defaulted)', { ...user, source: undefined }],
  ['no occurredAt', { ...user, occurredAt: undefined }],
  ['extra envelope key (dropped)', { ...user, extra: 1 }],
  ['keys in another order', { data: user.data, version: user.version, id: user.id, op: 'upsert', type: 'user' }],
  ['delete without data', { type: 'user', op: 'delete', id: 'u-1', version: '7' }],
  ['delete with data undefined', { type: 'user', op: 'delete', id: 'u-1', version: '7', data: undefined }],
  ['delete with null data', { type: 'user', op: 'delete', id: 'u-1', version: '7', data: null }],
  ['upsert with null data', { ...user, data: null }],
  ['upsert without data', { ...user, data: undefined }],
  ['data is an array', { ...user, data: [1] }],
  ['data is a string', { ...user, data: 'x' }],
  ['data with a __proto__ key', JSON.parse('{"type":"user","op":"upsert","id":"u","version":"1","data":{"name":"n","__proto__":{"a":1}}}')],
  ['integer-like data keys', { ...user, data: { name: 'n', 10: 'a', 2: 'b' } }],
  ['empty id', { ...user, id: '' }],
  ['numeric id', { ...user, id: 5 }],
  ['empty version', { ...user, version: '' }],
  ['null source', { ...user, source: null }],
  ['empty source', { ...user, source: '' }],
  ['occurredAt not a date', { ...user, occurredAt: 'yesterday' }],
  ['occurredAt null', { ...user, occurredAt: null }],
  ['occurredAt a number', { ...user, occurredAt: 5 }],
  ['unknown type', { ...user, type: 'invoice' }],
  ['unknown op', { ...user, op: 'merge' }],
  ['not an object', 'user'],
  ['null', null],
  ['an array', [user]],
  ['user name empty', { ...user, data: { ...user.data, name: '' } }],
  ['user name missing', { ...user, data: { inn: '1' } }],
  ['user inn a number', { ...user, data: { ...user.data, inn: 7701 } }],
  ['user email null', { ...user, data: { ...user.data, email: null } }],
  ['bankAccounts not an array', { ...user, data: { ...user.data, bankAccounts: {} } }],
  ['bank account without number', { ...user, data: { ...user.data, bankAccounts: [{ bic: '044525225' }] } }],
  ['bank account null', { ...user, data: { ...user.data, bankAccounts: [null] } }],
  ['bank account bic a number', { ...user, data: { ...user.data, bankAccounts: [{ number: '1', bic: 44525225 }] } }],
  ['product', product],
  ['product price without value', { ...product, data: { prices: [{}] } }],
  ['rate', { type: 'rate', op: 'upsert', id: 'USD', version: '2026-11-22', data: { charCode: 'USD', nominal: 1, value: 90.1, date: '2026-11-22' } }],
  ['rate with a bad code', { type: 'rate', op: 'upsert', id: 'USD', version: '2026-11-22', data: { charCode: 'usd', nominal: 1, value: 90.1, date: '2026-11-22' } }],
];

describe('envelope fast path (issue 11, item 4): the same verdict, output and error text as the zod schemas', () => {
  for (const [name, raw] of cases) {
    for (const expected of [undefined, 'user', 'product'] as Array<EntityType | undefined>) {
      it(`${name}${expected ? ` on a ${expected} queue` : ''}`, () => {
        const bySchema = validateEnvelopeBySchema(raw, expected);
        const result = validateEnvelope(raw, expected);
        expect(result).toStrictEqual(bySchema);
        // Same keys in the same order: the records sink hashes and stores what it gets.
        expect(JSON.stringify(result)).toBe(JSON.stringify(bySchema));
      });
    }
  }

  it('takes the fast path for a plain user upsert (no zod object is built for it)', () => {
    expect(fastEnvelope(user)).toBeDefined();
    expect(isValidUserData(user.data)).toBe(true);
    expect(userDataSchema.safeParse(user.data).success).toBe(true);
    const result = validateEnvelope(user, 'user');
    // The data object is the parsed one itself, not a copy.
    expect(result.ok && result.envelope.data).toBe(user.data);
  });

  it('leaves to zod what it does not recognise', () => {
    expect(fastEnvelope({ ...user, source: null })).toBeUndefined();
    expect(fastEnvelope([user])).toBeUndefined();
    expect(isValidUserData({ name: '' })).toBe(false);
  });
});
