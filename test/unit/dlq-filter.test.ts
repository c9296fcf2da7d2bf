import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { InspectedMessage, parseDlqFilter } from '../../src/jobs/dlq-filter.js';

function message(body: string | Buffer, headers: Record<string, unknown> = {}, messageId?: string): InspectedMessage {
  return new InspectedMessage({
    content: Buffer.isBuffer(body) ? body : Buffer.from(body),
    fields: {} as Message['fields'],
    properties: { headers, messageId } as unknown as Message['properties'],
  });
}

const envelope = JSON.stringify({
  type: 'user', id: 'u-1', data: { inn: '0274062111', qty: 3, ok: true, none: null, 'a.b': 'dotted', items: [{ sku: 'A1' }, { sku: 'B2' }] },
});
const matches = (filter: string, m: InspectedMessage) => parseDlqFilter(filter)(m);

describe('replay-dlq --filter', () => {
  it('id= matches the envelope id, else the id inside the message-id', () => {
    expect(matches('id=u-1', message(envelope))).toBe(true);
    expect(matches('id=u-2', message(envelope))).toBe(false);
    expect(matches('id=u-9', message(Buffer.from([0xff, 0x00]), {}, 'user:u-9:2026-01-01'))).toBe(true);
  });

  it('code= and header:<name>= compare header values as text', () => {
    const m = message(envelope, { 'exchange-error-code': 'CRM_ERROR_CORE', 'exchange-attempts': 5, tag: Buffer.from('bytes') });
    expect(matches('code=CRM_ERROR_CORE', m)).toBe(true);
    expect(matches('code=CRM', m)).toBe(false);
    expect(matches('header:exchange-attempts=5', m)).toBe(true);
    expect(matches('header:tag=bytes', m)).toBe(true);
    expect(matches('header:missing=', m)).toBe(false);
    expect(matches('header:x=a=b', message(envelope, { x: 'a=b' }))).toBe(true);
  });

  it('json:<path>= and $.<path>= find a value in the body: strings exactly, numbers numerically, literals, keys with dots, array items', () => {
    const m = message(envelope);
    expect(matches('json:data.inn=0274062111', m)).toBe(true);
    expect(matches('json:data.inn=274062111', m)).toBe(false);
    expect(matches('$.data.inn=0274062111', m)).toBe(true);
    expect(matches('json:data.qty=3', m)).toBe(true);
    expect(matches('json:data.qty=3.0', m)).toBe(true);
    expect(matches('json:data.qty=4', m)).toBe(false);
    expect(matches('json:data.ok=true', m)).toBe(true);
    expect(matches('json:data.none=null', m)).toBe(true);
    expect(matches('json:data["a.b"]=dotted', m)).toBe(true);
    expect(matches('json:data.items[1].sku=B2', m)).toBe(true);
    expect(matches('json:data.items[2].sku=B2', m)).toBe(false);
    expect(matches('json:data.items[0]={"sku":"A1"}', m)).toBe(true);
    expect(matches('json:data.missing=', m)).toBe(false);
    expect(matches('json:data.inn=0274062111', message(Buffer.from([0xff, 0xfe])))).toBe(false);
  });

  it('refuses what it cannot read with a usage error (64) naming the syntax', () => {
    for (const bad of ['inn=1', 'json:data..inn=1', 'json:data.inn', 'json:=1', 'json:data[x]=1', 'header:=1']) {
      expect(() => parseDlqFilter(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE', hint: expect.stringContaining('json:<path>=<value>') }));
    }
  });
});
