import type { GetMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userEnvelope } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

const TOTAL = 1500;
const idOf = (i: number) => `m-${String(i).padStart(5, '0')}`;
/** Deep in the queue, far past amqp.prefetch (500): the old replay never saw them. */
const CRM_FAILED = [700, 1100, 1499];
/** A body that is not UTF-8 JSON: listed as base64, found by its header. */
const BINARY = 1200;
const BINARY_BODY = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x7f]);
/** A different INN in the body, for the JSON-path filter. */
const OTHER_INN = [950, 1300];

function bodyOf(i: number): Buffer {
  if (i === BINARY) return BINARY_BODY;
  const envelope = userEnvelope(idOf(i));
  if (OTHER_INN.includes(i)) envelope.data.inn = '7736050003';
  return Buffer.from(JSON.stringify(envelope));
}

function headersOf(i: number, queue: string): Record<string, unknown> {
  const crm = CRM_FAILED.includes(i);
  return {
    'exchange-error': crm ? 'Required fields: NAME' : 'refused for good by the test',
    'exchange-error-code': crm ? 'CRM_ERROR_CORE' : 'RECORD_STORE_22023',
    'exchange-attempts': 5,
    'exchange-failed-at': '2026-11-22T03:00:00.000Z',
    'exchange-queue': queue,
    ...(i === BINARY ? { 'test-tag': 'binary' } : {}),
  };
}

/** The message-id of every message we put in: the order of a queue is the order of these. */
const labelOf = (i: number) => `user:${idOf(i)}:2026-11-22T10:15:00.000Z`;
const labels = (messages: GetMessage[]) => messages.map((m) => m.properties.messageId as string);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * A tenant with the user route declared and a dlq of 1,500 parked messages in a known order. The queue's order
 * is read back with takeAll (acked gets, in order): a peek that gives the messages back reorders a quorum queue
 * on RabbitMQ 3.10, so it cannot prove that an order was kept.
 */
async function parkedQueue() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 1000 } });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 60_000 });
  const queue = `${tenant}.user.records`;
  const dlq = `${queue}.dlq`;
  const extraQueues: string[] = [];
  cleanups.push(async () => {
    const channel = await broker.connection.createChannel();
    channel.on('error', () => undefined);
    for (const name of extraQueues) await channel.deleteQueue(name).catch(() => undefined);
    await channel.close().catch(() => undefined);
    await broker.deleteTenant(tenant);
    work.remove();
  });
  expect((await cli('setup')).code).toBe(0);
  const channel = await broker.connection.createConfirmChannel();
  for (const i of range(TOTAL)) {
    channel.sendToQueue(dlq, bodyOf(i), {
      persistent: true, contentType: 'application/json', messageId: labelOf(i), timestamp: 1795000000 + i, headers: headersOf(i, queue),
    });
  }
  await channel.waitForConfirms();
  await channel.close();
  await broker.waitForDepth(dlq, TOTAL);
  const declareQueue = async (name: string) => {
    extraQueues.push(name);
    const ch = await broker.connection.createChannel();
    await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.close();
  };
  return { tenant, cli, queue, dlq, declareQueue, extraQueues, workDir: work.dir };
}

const deadLetters = (result: { json: Array<Record<string, unknown>> }) => result.json.filter((event) => event.event === 'dead-letter');
const without = (excluded: number[]) => range(TOTAL).filter((i) => !excluded.includes(i)).map(labelOf);

describe('replay-dlq scans the whole dead-letter queue once (issue 10)', () => {
  it('--dry-run lists every match, also far past the prefetch, and leaves the queue as it was: same messages, same order', async () => {
    const s = await parkedQueue();
    const listed = await s.cli('replay-dlq', 'user', '--dry-run', '--filter', 'code=CRM_ERROR_CORE', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const found = deadLetters(listed);
    expect(found.map((e) => e.messageId)).toEqual(CRM_FAILED.map(labelOf));
    expect(found.every((e) => e.errorCode === 'CRM_ERROR_CORE' && e.attempts === 5)).toBe(true);
    expect(listed.summary).toMatchObject({ read: TOTAL, published: 0, exitCode: 0 });

    // Again and again: every message is put back exactly once (no ack lost before the channel closes, no return).
    for (let run = 0; run < 2; run++) {
      const again = await s.cli('replay-dlq', 'user', '--dry-run', '--filter', 'code=CRM_ERROR_CORE', '--json');
      expect(deadLetters(again).map((e) => e.messageId)).toEqual(CRM_FAILED.map(labelOf));
      expect(again.json.find((e) => e.event === 'replay-dlq')).toMatchObject({ held: TOTAL, scanned: TOTAL, matched: CRM_FAILED.length });
    }
    await broker.waitForDepth(s.dlq, TOTAL);
    expect(await broker.depth(s.queue)).toBe(0);
    const after = await broker.takeAll(s.dlq);
    expect(labels(after)).toEqual(range(TOTAL).map(labelOf));
    // The same messages: body, headers and properties as they were put in.
    for (const i of [0, 700, BINARY, 1499]) {
      expect(after[i].content.equals(bodyOf(i))).toBe(true);
      expect(after[i].properties.headers).toMatchObject(headersOf(i, s.queue));
      expect(after[i].properties.timestamp).toBe(1795000000 + i);
      expect(after[i].properties.contentType).toBe('application/json');
    }
  });

  it('--json prints headers, properties and the body (text when UTF-8 JSON, else base64), parsed back to what was parked', async () => {
    const s = await parkedQueue();
    const listed = await s.cli('replay-dlq', 'user', '--dry-run', '--json', '--filter', 'header:test-tag=binary');
    expect(listed.code, listed.stderr).toBe(0);
    const [binary] = deadLetters(listed);
    expect(deadLetters(listed)).toHaveLength(1);
    expect(binary).toMatchObject({ queue: s.dlq, messageId: labelOf(BINARY), bodyEncoding: 'base64', headers: headersOf(BINARY, s.queue) });
    expect(Buffer.from(String(binary.body), 'base64').equals(BINARY_BODY)).toBe(true);
    expect(binary.properties).toMatchObject({ contentType: 'application/json', messageId: labelOf(BINARY), timestamp: 1795000000 + BINARY, deliveryMode: 2 });

    const json = await s.cli('replay-dlq', 'user', '--dry-run', '--json', '--filter', `id=${idOf(1100)}`);
    const [one] = deadLetters(json);
    expect(deadLetters(json)).toHaveLength(1);
    expect(one.bodyEncoding).toBe('utf8');
    expect(JSON.parse(String(one.body))).toEqual(userEnvelope(idOf(1100)));
    expect(one.headers).toEqual(headersOf(1100, s.queue));
    await broker.waitForDepth(s.dlq, TOTAL);
  });

  it('replays exactly the matches to the work queue (attempts 0, replays 1); the rest keep their order', async () => {
    const s = await parkedQueue();
    const replay = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.summary).toMatchObject({ read: TOTAL, published: CRM_FAILED.length });
    await broker.waitForDepth(s.queue, CRM_FAILED.length);
    await broker.waitForDepth(s.dlq, TOTAL - CRM_FAILED.length);
    const replayed = await broker.takeAll(s.queue);
    expect(labels(replayed)).toEqual(CRM_FAILED.map(labelOf));
    for (const message of replayed) expect(message.properties.headers).toMatchObject({ 'exchange-attempts': 0, 'exchange-replays': 1, 'exchange-error-code': 'CRM_ERROR_CORE' });
    expect(labels(await broker.takeAll(s.dlq))).toEqual(without(CRM_FAILED));
  });

  it('--to replays into another queue, which must exist (78 naming it, nothing moved)', async () => {
    const s = await parkedQueue();
    const missing = `${s.tenant}.nowhere`;
    const refused = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--to', missing);
    expect(refused.code).toBe(78);
    expect(refused.stderr).toContain(missing);
    await broker.waitForDepth(s.dlq, TOTAL);

    const elsewhere = `${s.tenant}.elsewhere`;
    await s.declareQueue(elsewhere);
    const moved = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--to', elsewhere, '--json');
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.summary).toMatchObject({ published: CRM_FAILED.length });
    await broker.waitForDepth(elsewhere, CRM_FAILED.length);
    expect(await broker.depth(s.queue)).toBe(0);
    const arrived = await broker.takeAll(elsewhere);
    expect(labels(arrived)).toEqual(CRM_FAILED.map(labelOf));
    expect(arrived[0].properties.headers).toMatchObject({ 'exchange-attempts': 0, 'exchange-replays': 1 });
    await broker.waitForDepth(s.dlq, TOTAL - CRM_FAILED.length);
    expect(labels(await broker.takeAll(s.dlq))).toEqual(without(CRM_FAILED));
  });

  it('--discard needs --yes (64, nothing dropped); with it drops exactly the matches and says how many', async () => {
    const s = await parkedQueue();
    const refused = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--discard');
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('--yes');
    await broker.waitForDepth(s.dlq, TOTAL);

    const dropped = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--discard', '--yes', '--json');
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.json.find((e) => e.event === 'replay-dlq')).toMatchObject({ queue: s.dlq, scanned: TOTAL, matched: CRM_FAILED.length, discarded: CRM_FAILED.length });
    expect(dropped.summary).toMatchObject({ read: TOTAL, published: 0 });
    expect(await broker.depth(s.queue)).toBe(0);
    await broker.waitForDepth(s.dlq, TOTAL - CRM_FAILED.length);
    expect(labels(await broker.takeAll(s.dlq))).toEqual(without(CRM_FAILED));

    const human = await parkedQueue();
    const counted = await human.cli('replay-dlq', 'user', '--filter', `id=${idOf(1499)}`, '--discard', '--yes');
    expect(counted.code, counted.stderr).toBe(0);
    expect(counted.stdout).toContain(`${human.dlq}: ${TOTAL} scanned, 1 matched, 1 discarded`);
    await broker.waitForDepth(human.dlq, TOTAL - 1);
  });

  it('filters by a JSON path in the body (json:<path> and $.<path>), several filters all must match', async () => {
    const s = await parkedQueue();
    const byPath = await s.cli('replay-dlq', 'user', '--dry-run', '--json', '--filter', 'json:data.inn=7736050003');
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(deadLetters(byPath).map((e) => e.messageId)).toEqual(OTHER_INN.map(labelOf));
    const both = await s.cli('replay-dlq', 'user', '--dry-run', '--json', '--filter', '$.data.inn=7736050003', '--filter', `json:id=${idOf(1300)}`);
    expect(both.code, both.stderr).toBe(0);
    expect(deadLetters(both).map((e) => e.messageId)).toEqual([labelOf(1300)]);
    const none = await s.cli('replay-dlq', 'user', '--dry-run', '--json', '--filter', 'json:data.inn=7736050003', '--filter', 'code=CRM_ERROR_CORE');
    expect(none.code, none.stderr).toBe(0);
    expect(deadLetters(none)).toHaveLength(0);
    const bad = await s.cli('replay-dlq', 'user', '--dry-run', '--filter', 'json:data..inn=1');
    expect(bad.code).toBe(64);

    const replay = await s.cli('replay-dlq', 'user', '--filter', 'json:data.inn=7736050003', '--json');
    expect(replay.summary).toMatchObject({ read: TOTAL, published: OTHER_INN.length });
    await broker.waitForDepth(s.queue, OTHER_INN.length);
    expect(labels(await broker.takeAll(s.queue))).toEqual(OTHER_INN.map(labelOf));
    await broker.waitForDepth(s.dlq, TOTAL - OTHER_INN.length);
    expect(labels(await broker.takeAll(s.dlq))).toEqual(without(OTHER_INN));
  });

  it('replays 1,000 messages in publish windows, in order; --limit caps the moves and the rest keep their order', async () => {
    const s = await parkedQueue();
    const replay = await s.cli('replay-dlq', 'user', '--limit', '1000', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.summary).toMatchObject({ read: 1000, published: 1000 });
    await broker.waitForDepth(s.queue, 1000);
    await broker.waitForDepth(s.dlq, TOTAL - 1000);
    const replayed = await broker.takeAll(s.queue);
    expect(labels(replayed)).toEqual(range(1000).map(labelOf));
    expect(replayed.every((m) => m.properties.headers!['exchange-attempts'] === 0 && m.properties.headers!['exchange-replays'] === 1)).toBe(true);
    expect(labels(await broker.takeAll(s.dlq))).toEqual(range(TOTAL).slice(1000).map(labelOf));
  });

  it('--limit with a filter moves the first n matches and keeps the order of everything else', async () => {
    const s = await parkedQueue();
    const replay = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--limit', '2', '--json');
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.summary).toMatchObject({ read: TOTAL, published: 2 });
    await broker.waitForDepth(s.queue, 2);
    expect(labels(await broker.takeAll(s.queue))).toEqual([700, 1100].map(labelOf));
    await broker.waitForDepth(s.dlq, TOTAL - 2);
    expect(labels(await broker.takeAll(s.dlq))).toEqual(without([700, 1100]));
  });

  it('SIGINT stops the scan with 75: every message still there exactly once, none duplicated', async () => {
    const s = await parkedQueue();
    // A bigger dlq, so that the scan is still running when the signal comes.
    const more = 10_000;
    const channel = await broker.connection.createConfirmChannel();
    for (let i = TOTAL; i < TOTAL + more; i++) channel.sendToQueue(s.dlq, bodyOf(i), { persistent: true, messageId: labelOf(i), headers: headersOf(i, s.queue) });
    await channel.waitForConfirms();
    await channel.close();
    await broker.waitForDepth(s.dlq, TOTAL + more);
    let pid = 0;
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: s.tenant };
    const running = runCli(['replay-dlq', 'user', '--dry-run', '--filter', 'code=CRM_ERROR_CORE', '--json'], { env, cwd: s.workDir, timeoutMs: 120_000, onSpawn: (p) => { pid = p; } });
    let ended = false;
    void running.finally(() => { ended = true; });
    const consumers = async () => {
      const ch = await broker.connection.createChannel();
      try { return (await ch.checkQueue(s.dlq)).consumerCount; } finally { await ch.close().catch(() => undefined); }
    };
    await waitFor('the scan to be reading the dlq', async () => ended || (await consumers()) === 1, 30_000, 20);
    if (ended) { const early = await running; expect.fail(`the scan ended before it could be interrupted: exit ${early.code}\n${early.stderr}`); }
    process.kill(pid, 'SIGINT');
    const result = await running;
    expect(result.code, result.stderr).toBe(75);
    expect(result.stderr).toContain('interrupted after');
    await broker.waitForDepth(s.dlq, TOTAL + more);
    const all = labels(await broker.takeAll(s.dlq));
    expect(all).toHaveLength(TOTAL + more);
    expect(new Set(all).size).toBe(TOTAL + more);
  }, 120_000);

  it('a refused publish stops the replay with 69: exactly the confirmed ones left the dlq, nothing lost or doubled', async () => {
    const s = await parkedQueue();
    // A queue that takes two messages and refuses (nacks) the third.
    const small = `${s.tenant}.small`;
    s.extraQueues.push(small);
    const ch = await broker.connection.createChannel();
    await ch.assertQueue(small, { durable: true, arguments: { 'x-queue-type': 'classic', 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    await ch.close();
    const replay = await s.cli('replay-dlq', 'user', '--filter', 'code=CRM_ERROR_CORE', '--to', small, '--json');
    expect(replay.code, replay.stderr).toBe(69);
    expect(replay.stderr).toContain('nack');
    expect(replay.summary).toMatchObject({ published: 2 });
    expect(labels(await broker.takeAll(small))).toEqual([700, 1100].map(labelOf));
    await broker.waitForDepth(s.dlq, TOTAL - 2);
    const left = labels(await broker.takeAll(s.dlq));
    expect(left).toHaveLength(TOTAL - 2);
    expect([...left].sort()).toEqual(without([700, 1100]).sort());
  });
});
