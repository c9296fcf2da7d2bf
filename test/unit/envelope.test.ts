import { describe, expect, it } from 'vitest';
import { fastEnvelope, isPlainObject, isValidUserData } from '../../src/messages/envelope-fast-path.js';
import { messageIdOf, parseEnvelope, routingKeyOf, validateEnvelope } from '../../src/messages/envelope.js';

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

describe('envelope validation, field by field', () => {
  const user = { type: 'user', op: 'upsert', id: 'u1', version: '000001', source: '1c', data: { name: 'ООО Ромашка' } };
  const rate = { type: 'rate', op: 'upsert', id: 'USD:2026-11-29', version: '2026-11-29', source: 'cbr', data: { charCode: 'USD', nominal: 1, value: 78.5, date: '2026-11-29' } };
  const reasonOf = (raw: unknown) => {
    const result = validateEnvelope(raw);
    return result.ok ? 'ok' : `${result.code} ${result.reason}`;
  };

  it('refuses bytes that are not UTF-8 instead of storing U+FFFD', () => {
    const body = Buffer.concat([Buffer.from('{"type":"user","op":"upsert","id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","version":"1","data":{"name":"x"}}')]);
    expect(parseEnvelope(body)).toEqual({ ok: false, code: 'INVALID_JSON', reason: 'body is not JSON: it is not valid UTF-8' });
  });

  it('reads a UTF-8 body given as bytes or as text alike', () => {
    const text = JSON.stringify(user);
    expect(parseEnvelope(Buffer.from(text, 'utf8'))).toEqual(parseEnvelope(text));
    expect(parseEnvelope(Buffer.from(text, 'utf8'))).toMatchObject({ ok: true, envelope: { id: 'u1', data: { name: 'ООО Ромашка' } } });
  });

  it('says why a body is not JSON, after a fixed prefix', () => {
    const result = parseEnvelope('not json');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe('INVALID_JSON');
      expect(result.reason.startsWith('body is not JSON: ')).toBe(true);
      expect(result.reason.length).toBeGreaterThan('body is not JSON: '.length);
    }
  });

  it('names where the source is missing ("unknown") and keeps the envelope fields', () => {
    const { source: _, ...withoutSource } = user;
    expect(validateEnvelope(withoutSource)).toEqual({ ok: true, envelope: { ...user, source: 'unknown' } });
    expect(validateEnvelope({ ...user, occurredAt: '2026-11-22T10:15:03.120Z' })).toMatchObject({ ok: true, envelope: { occurredAt: '2026-11-22T10:15:03.120Z' } });
  });

  it('refuses empty id, version and source, a missing type and an occurredAt that is no date, naming each field', () => {
    expect(reasonOf({ ...user, id: '' })).toMatch(/^SCHEMA_VIOLATION id: /);
    expect(reasonOf({ ...user, version: '' })).toMatch(/^SCHEMA_VIOLATION version: /);
    expect(reasonOf({ ...user, source: '' })).toMatch(/^SCHEMA_VIOLATION source: /);
    expect(reasonOf({ ...user, occurredAt: 'yesterday' })).toBe('SCHEMA_VIOLATION occurredAt: must be an ISO-8601 date');
    const { type: _, ...typeless } = user;
    expect(reasonOf(typeless)).toMatch(/^SCHEMA_VIOLATION type: /);
    // Several problems are listed together, one `path: message` each, in order.
    expect(reasonOf({ ...user, id: '', version: '' })).toMatch(/^SCHEMA_VIOLATION id: [^;]+; version: [^;]+$/);
  });

  it('names the root when the message is not an object at all', () => {
    expect(reasonOf('a string')).toMatch(/^SCHEMA_VIOLATION \(root\): ./);
    expect(reasonOf(null)).toMatch(/^SCHEMA_VIOLATION \(root\): ./);
  });

  it('says which type came to which queue, and takes any type when the queue names none', () => {
    expect(validateEnvelope(user, 'product')).toEqual({ ok: false, code: 'WRONG_TYPE', reason: 'message of type "user" on a "product" queue' });
    expect(validateEnvelope(user, 'user').ok).toBe(true);
    expect(validateEnvelope(rate).ok).toBe(true);
  });

  it('requires data on an upsert (null is no data) and checks it by the entity type', () => {
    expect(validateEnvelope({ ...user, data: null })).toEqual({ ok: false, code: 'SCHEMA_VIOLATION', reason: 'data: required for an upsert' });
    expect(validateEnvelope({ ...user, op: 'delete', data: null }).ok).toBe(true);
    // A delete's data is not checked against the entity schema.
    expect(validateEnvelope({ ...user, op: 'delete', data: { name: '' } }).ok).toBe(true);
    expect(reasonOf({ ...user, data: { name: '' } })).toMatch(/^SCHEMA_VIOLATION data\.name: /);
    expect(reasonOf({ ...user, data: { fullName: 'no name' } })).toMatch(/^SCHEMA_VIOLATION data\.name: /);
    expect(reasonOf({ ...user, data: [] })).toMatch(/^SCHEMA_VIOLATION data: /);
  });

  it('keeps the data as it came, key order and unknown fields included (the content hash depends on it)', () => {
    const data = { inn: '7707083893', name: 'ООО Ромашка', extra: { nested: [1, 2] } };
    const result = validateEnvelope({ ...user, data });
    expect(result.ok).toBe(true);
    if (result.ok) expect(JSON.stringify(result.envelope.data)).toBe('{"inn":"7707083893","name":"ООО Ромашка","extra":{"nested":[1,2]}}');
  });

  it('user: optional texts may be null, bank accounts need a number', () => {
    expect(reasonOf({ ...user, data: { name: 'A', inn: null, kpp: null, email: null, phone: null, address: null, fullName: null } })).toBe('ok');
    expect(reasonOf({ ...user, data: { name: 'A', inn: 7707083893 } })).toMatch(/^SCHEMA_VIOLATION data\.inn: /);
    expect(reasonOf({ ...user, data: { name: 'A', bankAccounts: [{ number: '40702810900000000001', bank: null, bic: '044525225' }] } })).toBe('ok');
    expect(reasonOf({ ...user, data: { name: 'A', bankAccounts: [{ bank: 'Сбербанк' }] } })).toMatch(/^SCHEMA_VIOLATION data\.bankAccounts\.0\.number: /);
  });

  it('product: name may be missing (an offer), prices need a finite value, stock a number', () => {
    const product = { ...user, type: 'product' };
    expect(reasonOf({ ...product, data: {} })).toBe('ok');
    expect(reasonOf({ ...product, data: { name: null, stock: null, prices: [{ value: 1, typeId: null, type: null, currency: null }] } })).toBe('ok');
    expect(reasonOf({ ...product, data: { prices: [{ value: Number.POSITIVE_INFINITY }] } })).toMatch(/^SCHEMA_VIOLATION data\.prices\.0\.value: /);
    expect(reasonOf({ ...product, data: { stock: '12' } })).toMatch(/^SCHEMA_VIOLATION data\.stock: /);
    expect(reasonOf({ ...product, data: { groupIds: [1] } })).toMatch(/^SCHEMA_VIOLATION data\.groupIds\.0: /);
    expect(reasonOf({ ...product, data: { characteristics: [{ name: 'Цвет' }] } })).toMatch(/^SCHEMA_VIOLATION data\.characteristics\.0\.value: /);
    expect(reasonOf({ ...product, data: { deleted: 'yes' } })).toMatch(/^SCHEMA_VIOLATION data\.deleted: /);
  });

  it('mutual settlements: an ISO date, amounts as numbers, order ids as texts', () => {
    const doc = { ...user, type: 'mutualsettlements', data: { number: '1', date: '2026-12-31', amount: -1.5, debit: null, orderIds: ['o1'] } };
    expect(reasonOf(doc)).toBe('ok');
    expect(reasonOf({ ...doc, data: { date: 'not a date' } })).toBe('SCHEMA_VIOLATION data.date: must be an ISO-8601 date');
    expect(reasonOf({ ...doc, data: { balance: '5' } })).toMatch(/^SCHEMA_VIOLATION data\.balance: /);
    expect(reasonOf({ ...doc, data: { orderIds: [5] } })).toMatch(/^SCHEMA_VIOLATION data\.orderIds\.0: /);
  });

  it('rate: a three-letter upper-case code, a positive whole nominal, a YYYY-MM-DD date', () => {
    expect(reasonOf(rate)).toBe('ok');
    expect(reasonOf({ ...rate, data: { ...rate.data, charCode: 'usd' } })).toBe('SCHEMA_VIOLATION data.charCode: an ISO 4217 letter code');
    expect(reasonOf({ ...rate, data: { ...rate.data, charCode: 'USDX' } })).toBe('SCHEMA_VIOLATION data.charCode: an ISO 4217 letter code');
    expect(reasonOf({ ...rate, data: { ...rate.data, charCode: 'XUSD' } })).toBe('SCHEMA_VIOLATION data.charCode: an ISO 4217 letter code');
    expect(reasonOf({ ...rate, data: { ...rate.data, nominal: 0 } })).toMatch(/^SCHEMA_VIOLATION data\.nominal: /);
    expect(reasonOf({ ...rate, data: { ...rate.data, nominal: 1.5 } })).toMatch(/^SCHEMA_VIOLATION data\.nominal: /);
    expect(reasonOf({ ...rate, data: { ...rate.data, nominal: 100 } })).toBe('ok');
    expect(reasonOf({ ...rate, data: { ...rate.data, date: '2026-11-29T00:00:00Z' } })).toBe('SCHEMA_VIOLATION data.date: a date as YYYY-MM-DD');
    expect(reasonOf({ ...rate, data: { ...rate.data, date: 'x2026-11-29' } })).toBe('SCHEMA_VIOLATION data.date: a date as YYYY-MM-DD');
    expect(reasonOf({ ...rate, data: { ...rate.data, value: '78.5' } })).toMatch(/^SCHEMA_VIOLATION data\.value: /);
  });

  it('edi-event: document ids as texts and an ISO timestamp', () => {
    const event = { ...user, type: 'edi-event', data: { messageId: 'm1', documentIds: ['d1'], documentTypes: ['UniversalTransferDocument'], counteragentBoxId: 'b1', timestamp: '2026-11-29T10:00:00Z' } };
    expect(reasonOf(event)).toBe('ok');
    expect(reasonOf({ ...event, data: { timestamp: '29.11.2026' } })).toBe('SCHEMA_VIOLATION data.timestamp: must be an ISO-8601 date');
    expect(reasonOf({ ...event, data: { documentIds: [1] } })).toMatch(/^SCHEMA_VIOLATION data\.documentIds\.0: /);
  });

  it('message id and routing key are built from the envelope fields', () => {
    expect(messageIdOf({ type: 'user', id: 'u1', version: '000001' })).toBe('user:u1:000001');
    expect(routingKeyOf({ type: 'user', op: 'delete' })).toBe('user.delete');
  });
});

describe('envelope fast path: every certainly valid shape takes it', () => {
  // What DESIGN §6 allows of a user upsert, each written out; the fast path must not decline any of it.
  const base = { type: 'user', op: 'upsert', id: 'u1', version: '000001' };
  const userData = { name: 'ООО Ромашка' };

  it('takes an envelope with or without source and occurredAt, and a delete with data, null data or none', () => {
    expect(fastEnvelope({ ...base, data: userData })).toStrictEqual({ ...base, source: 'unknown', data: userData });
    expect(fastEnvelope({ ...base, source: '1c', occurredAt: '2026-11-22T10:15:03.120Z', data: userData }))
      .toStrictEqual({ ...base, source: '1c', occurredAt: '2026-11-22T10:15:03.120Z', data: userData });
    expect(fastEnvelope({ ...base, op: 'delete' })).toStrictEqual({ ...base, op: 'delete', source: 'unknown' });
    expect(fastEnvelope({ ...base, op: 'delete', data: null })).toStrictEqual({ ...base, op: 'delete', source: 'unknown', data: null });
    for (const type of ['user', 'product', 'mutualsettlements', 'rate', 'edi-event']) expect(fastEnvelope({ ...base, type, data: {} }), type).toBeDefined();
  });

  it('declines only what is not certainly valid', () => {
    for (const raw of [
      { ...base, type: 'invoice' }, { ...base, op: 'merge' }, { ...base, id: '' }, { ...base, id: 1 }, { ...base, version: '' }, { ...base, version: 1 },
      { ...base, source: '' }, { ...base, source: 5 }, { ...base, occurredAt: 'yesterday' }, { ...base, occurredAt: 5 }, { ...base, data: [] }, { ...base, data: 'x' },
      null, 'text', [base],
    ]) {
      expect(fastEnvelope(raw), JSON.stringify(raw)).toBeUndefined();
    }
  });

  it('knows valid user data with every optional text given or null, and bank accounts', () => {
    expect(isValidUserData({ name: 'A' })).toBe(true);
    expect(isValidUserData({ name: 'A', fullName: 'B', inn: '1', kpp: '2', email: 'e', phone: 'p', address: 'a' })).toBe(true);
    expect(isValidUserData({ name: 'A', fullName: null, inn: null, kpp: null, email: null, phone: null, address: null })).toBe(true);
    expect(isValidUserData({ name: 'A', bankAccounts: [] })).toBe(true);
    expect(isValidUserData({ name: 'A', bankAccounts: [{ number: '1' }, { number: '2', bank: 'B', bic: 'C', correspondentAccount: 'D' }, { number: '3', bank: null, bic: null, correspondentAccount: null }] })).toBe(true);
    for (const field of ['fullName', 'inn', 'kpp', 'email', 'phone', 'address']) expect(isValidUserData({ name: 'A', [field]: 5 }), field).toBe(false);
    for (const field of ['bank', 'bic', 'correspondentAccount']) expect(isValidUserData({ name: 'A', bankAccounts: [{ number: '1', [field]: 5 }] }), field).toBe(false);
    expect(isValidUserData({ name: 'A', bankAccounts: [{ number: '1' }, {}] })).toBe(false);
    expect(isValidUserData({ name: 'A', bankAccounts: [[]] })).toBe(false);
    expect(isValidUserData({ name: 5 })).toBe(false);
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject('x')).toBe(false);
  });
});
