import type { ConsumeMessage, Message } from 'amqplib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Header, copyOptions, numberHeader, republishOptions } from '../../../src/amqp/failure-headers.js';
import { FailureRouter } from '../../../src/amqp/failure-router.js';
import type { ConfirmPublisher, Outgoing } from '../../../src/amqp/publisher.js';
import type { RouteTopology } from '../../../src/amqp/topology.js';

/** A delivered message as amqplib hands it over, with every property a broker can set. */
function delivered(headers: Record<string, unknown> | undefined, extra: Partial<Message['properties']> = {}): ConsumeMessage {
  return {
    content: Buffer.from('{"type":"user"}'),
    fields: { deliveryTag: 7, redelivered: false, exchange: 'user', routingKey: 'user.upsert', consumerTag: 'c1' },
    properties: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers,
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr-1',
      replyTo: 'reply-queue',
      expiration: '60000',
      messageId: 'user:1:2026-01-01',
      timestamp: 1_764_000_000,
      type: 'user.upsert',
      userId: 'guest',
      appId: 'exchange',
      clusterId: undefined,
      ...extra,
    },
  } as ConsumeMessage;
}

describe('failure headers (DESIGN §5)', () => {
  it('are our own names, never x-death', () => {
    expect(Header).toEqual({
      attempts: 'exchange-attempts',
      replays: 'exchange-replays',
      error: 'exchange-error',
      errorCode: 'exchange-error-code',
      failedAt: 'exchange-failed-at',
      queue: 'exchange-queue',
    });
  });

  it('read a count from a number, a decimal string or nothing, and never below zero', () => {
    const count = (value: unknown) => numberHeader(delivered({ 'exchange-attempts': value }), 'exchange-attempts');
    expect(count(3)).toBe(3);
    expect(count(2.9)).toBe(2);
    expect(count('4')).toBe(4);
    expect(count('12abc')).toBe(12);
    expect(count('010')).toBe(10); // decimal, not octal
    expect(count(undefined)).toBe(0);
    expect(count(null)).toBe(0);
    expect(count(-2)).toBe(0);
    expect(count(0)).toBe(0);
    expect(count(-0)).toBe(0);
    expect(count('x')).toBe(0);
    expect(count(Number.POSITIVE_INFINITY)).toBe(0);
    expect(count(true)).toBe(1);
    expect(count({})).toBe(0);
    expect(numberHeader(delivered(undefined), 'exchange-attempts')).toBe(0);
  });

  it('a republish keeps the message and our headers, drops the broker x- headers, and is persistent', () => {
    const message = delivered({ 'exchange-attempts': 1, 'exchange-replays': 2, 'x-death': [{ count: 1 }], 'x-delivery-count': 3, 'x-first-death-queue': 'q' });
    expect(republishOptions(message, { 'exchange-attempts': 2 })).toStrictEqual({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      messageId: 'user:1:2026-01-01',
      correlationId: 'corr-1',
      timestamp: 1_764_000_000,
      type: 'user.upsert',
      appId: 'exchange',
      priority: 3,
      persistent: true,
      headers: { 'exchange-attempts': 2, 'exchange-replays': 2 },
    });
  });

  it('a republish to .retry carries its delay as an expiration string', () => {
    expect(republishOptions(delivered({}), {}, 30_000).expiration).toBe('30000');
    expect(republishOptions(delivered({}), {}, 0).expiration).toBe('0');
    expect(republishOptions(delivered(undefined), { a: 1 }).headers).toStrictEqual({ a: 1 });
  });

  it('an exact copy keeps everything a later replay reads, but no expiration, user-id or delivery count', () => {
    const message = delivered({ 'exchange-attempts': 5, 'x-death': [{ count: 1 }], 'x-delivery-count': 3 });
    expect(copyOptions(message)).toStrictEqual({
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      messageId: 'user:1:2026-01-01',
      correlationId: 'corr-1',
      replyTo: 'reply-queue',
      timestamp: 1_764_000_000,
      type: 'user.upsert',
      appId: 'exchange',
      priority: 3,
      persistent: true,
      headers: { 'exchange-attempts': 5, 'x-death': [{ count: 1 }] },
    });
    expect(copyOptions(delivered(undefined)).headers).toStrictEqual({});
  });
});

describe('failure routing', () => {
  const route: RouteTopology = {
    type: 'user', sink: 'records', exchange: 'user', queue: 'user.records', retryQueue: 'user.records.retry', deadLetterQueue: 'user.records.dlq',
    queueArguments: {}, retryArguments: {}, retryDelayMs: 30_000, deadLetterArguments: {},
  };
  const transient = { permanent: false, code: 'SINK_UNAVAILABLE', reason: 'connection refused' };
  const noPublisher = {} as ConfirmPublisher;

  afterEach(() => vi.useRealTimers());

  it('sends a transient failure to .retry with one more attempt, its delay and where and why it failed', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-29T12:00:00.000Z') });
    const message = delivered({ 'exchange-attempts': 1, 'x-death': [{}] });
    const { destination, outgoing } = new FailureRouter(noPublisher, route, 5).plan(message, transient);
    expect(destination).toBe('retry');
    expect(outgoing.exchange).toBe('');
    expect(outgoing.routingKey).toBe('user.records.retry');
    expect(outgoing.body).toBe(message.content);
    expect(outgoing.options.expiration).toBe('30000');
    expect(outgoing.options.persistent).toBe(true);
    expect(outgoing.options.messageId).toBe('user:1:2026-01-01');
    expect(outgoing.options.headers).toStrictEqual({
      'exchange-attempts': 2,
      'exchange-error': 'connection refused',
      'exchange-error-code': 'SINK_UNAVAILABLE',
      'exchange-failed-at': '2026-11-29T12:00:00.000Z',
      'exchange-queue': 'user.records',
    });
  });

  it('sends a permanent failure to .dlq at once, without an expiration', () => {
    const { destination, outgoing } = new FailureRouter(noPublisher, route, 5).plan(delivered({}), { permanent: true, code: 'SCHEMA_VIOLATION', reason: 'data.name: required' });
    expect(destination).toBe('dlq');
    expect(outgoing.routingKey).toBe('user.records.dlq');
    expect(outgoing.options.expiration).toBeUndefined();
    expect(outgoing.options.headers).toMatchObject({ 'exchange-attempts': 1, 'exchange-error-code': 'SCHEMA_VIOLATION' });
  });

  it('parks a message in .dlq on its last attempt (maxAttempts counts every try), not one before', () => {
    const router = new FailureRouter(noPublisher, route, 3);
    // First delivery failed: attempt 1 of 3; the header then says 1, then 2.
    expect(router.plan(delivered({}), transient).destination).toBe('retry');
    expect(router.plan(delivered({ 'exchange-attempts': 1 }), transient).destination).toBe('retry');
    const last = router.plan(delivered({ 'exchange-attempts': 2 }), transient);
    expect(last.destination).toBe('dlq');
    expect(last.outgoing.options.headers!['exchange-attempts']).toBe(3);
    expect(router.plan(delivered({ 'exchange-attempts': 9 }), transient).destination).toBe('dlq');
  });

  it('cuts a long reason to 1000 characters, ending in an ellipsis', () => {
    const router = new FailureRouter(noPublisher, route, 5);
    const reasonOf = (reason: string) => router.plan(delivered({}), { ...transient, reason }).outgoing.options.headers!['exchange-error'] as string;
    const exactly = 'x'.repeat(1000);
    expect(reasonOf(exactly)).toBe(exactly);
    const cut = reasonOf(`${'y'.repeat(999)}z${'w'.repeat(500)}`);
    expect(cut).toHaveLength(1000);
    expect(cut).toBe(`${'y'.repeat(999)}…`);
  });

  it('sends through the publisher it was given and hands back its outcome', async () => {
    const sent: Outgoing[] = [];
    const publisher = { publish: async (outgoing: Outgoing) => (sent.push(outgoing), { ok: false, reason: 'nacked', detail: 'n' }) } as unknown as ConfirmPublisher;
    const router = new FailureRouter(publisher, route, 5);
    const { outgoing } = router.plan(delivered({}), transient);
    await expect(router.send(outgoing)).resolves.toEqual({ ok: false, reason: 'nacked', detail: 'n' });
    expect(sent).toEqual([outgoing]);
  });
});
