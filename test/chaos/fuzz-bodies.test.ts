import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { defectBodies, digest, fuzzBodies, seeded } from '../support/fuzz-bodies.js';
import { routeDepths } from '../support/route-depths.js';
import { amqpUrl, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

const seed = 0x5eed_f022;

/** A tenant with its user route declared and its own SQLite store: what both scenarios publish into. */
async function fuzzScenario() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ amqp: { retryDelayMs: 300 }, drain: { idleMs: 1500 } });
  const storeUrl = `sqlite:${path.join(work.dir, 'fuzz.db')}`;
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, EXCHANGE_RECORD_STORE: storeUrl };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 90_000 });
  expect((await cli('setup')).code).toBe(0);
  return { tenant, storeUrl, queue: `${tenant}.user.records`, cli };
}

describe('chaos: fuzzed bodies among valid ones', () => {
  it('writes every valid message, parks every bad one in .dlq with its reason, never crashes', async () => {
    const { tenant, storeUrl, queue, cli } = await fuzzScenario();

    const { valid, bad } = fuzzBodies(seed);
    const expected = new Map(bad.map((item) => [digest(item.body), item]));
    expect(expected.size).toBe(bad.length);
    // Bad bodies scattered among the valid ones, in an order the seed fixes.
    const random = seeded(seed ^ 0xffff);
    const bodies: Buffer[] = valid.map((item) => item.body);
    for (const item of bad) bodies.splice(Math.floor(random() * (bodies.length + 1)), 0, item.body);
    const channel = await broker.connection.createConfirmChannel();
    for (const body of bodies) channel.publish(`${tenant}.user`, 'user.upsert', body, { persistent: true, contentType: 'application/json' });
    await channel.waitForConfirms();
    await channel.close();
    await broker.waitForDepth(queue, bodies.length);

    const result = await cli('user', '--json', '--batch-size', '50');
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).not.toMatch(/Unhandled|RangeError|at .*\.js:\d+/);
    expect(result.summary).toMatchObject({ read: bodies.length, written: valid.length, deadLettered: bad.length, retried: 0, stale: 0, unchanged: 0, exitCode: 1 });

    const parked = await broker.takeAll(`${queue}.dlq`);
    expect(parked).toHaveLength(bad.length);
    const mismatches: string[] = [];
    const seen = new Set<string>();
    for (const message of parked) {
      const item = expected.get(digest(message.content));
      if (!item) { mismatches.push(`a dead-lettered body that was not sent as bad: ${message.content.subarray(0, 80).toString()}`); continue; }
      seen.add(item.label);
      const headers = message.properties.headers ?? {};
      const codeOk = typeof item.code === 'string' ? headers['exchange-error-code'] === item.code : item.code.test(String(headers['exchange-error-code']));
      if (!codeOk) mismatches.push(`${item.label}: exchange-error-code ${headers['exchange-error-code']}, expected ${item.code}`);
      if (!item.reason.test(String(headers['exchange-error']))) mismatches.push(`${item.label}: exchange-error "${String(headers['exchange-error']).slice(0, 200)}" does not match ${item.reason}`);
      if (headers['exchange-attempts'] !== 1) mismatches.push(`${item.label}: exchange-attempts ${headers['exchange-attempts']}, expected 1 (never retried)`);
      if (headers['exchange-queue'] !== queue) mismatches.push(`${item.label}: exchange-queue ${headers['exchange-queue']}`);
    }
    for (const item of bad) if (!seen.has(item.label)) mismatches.push(`${item.label}: not in the .dlq`);
    expect(mismatches).toEqual([]);

    const counts = await storeCounts(storeUrl);
    expect(counts.records).toBe(valid.length);
    expect([...counts.versions.keys()].sort()).toEqual(valid.map((item) => item.id).sort());
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
    expect(counts.runs.map((run) => [run.command, run.status])).toEqual([['user', 'partial']]);
    expect(counts.runs[0].counts).toMatchObject({ written: valid.length, deadLettered: bad.length });
    const huge = JSON.parse((await cli('records', 'get', 'user', 'fz-huge-valid', '--json')).stdout);
    expect(huge.data.address).toHaveLength(3 * 1024 * 1024);
  });
});

/*
 * Issue 7 (fuzzed bodies), found by this scenario and fixed: invalid UTF-8 inside an otherwise valid envelope was
 * decoded with U+FFFD replacements and written (now: .dlq, INVALID_JSON, "not valid UTF-8"); a 100,000-deep array
 * in data made JSON.stringify throw a RangeError that the records sink took for temporary, so it went through
 * .retry maxAttempts times (now: straight to .dlq, attempts 1, RECORD_TOO_DEEP).
 */
describe('chaos: fuzzed bodies that look almost valid', () => {
  it('parks invalid UTF-8 and a too-deep value at once, with a reason, and writes the valid ones', async () => {
    const { tenant, storeUrl, queue, cli } = await fuzzScenario();

    const valid = ['ok-1', 'ok-2', 'ok-3'];
    const bad = defectBodies();
    const [first, ...rest] = userBodies(valid).map((body) => Buffer.from(body));
    const bodies = [first, ...bad.map((item) => item.body), ...rest];
    const channel = await broker.connection.createConfirmChannel();
    for (const body of bodies) channel.publish(`${tenant}.user`, 'user.upsert', body, { persistent: true, contentType: 'application/json' });
    await channel.waitForConfirms();
    await channel.close();

    const result = await cli('user', '--json');
    expect(result.code, result.stderr).toBe(1);
    expect(result.summary).toMatchObject({ read: bodies.length, written: valid.length, deadLettered: bad.length, retried: 0, exitCode: 1 });
    const parked = await broker.takeAll(`${queue}.dlq`);
    const byDigest = new Map(parked.map((message) => [digest(message.content), message.properties.headers ?? {}]));
    for (const item of bad) {
      const headers = byDigest.get(digest(item.body));
      expect(headers, `${item.label}: not in the .dlq`).toBeDefined();
      expect(String(headers!['exchange-error-code']), item.label).toMatch(typeof item.code === 'string' ? new RegExp(`^${item.code}$`) : item.code);
      expect(String(headers!['exchange-error']), item.label).toMatch(item.reason);
      expect(headers!['exchange-attempts'], item.label).toBe(1);
    }
    const counts = await storeCounts(storeUrl);
    expect(counts.records).toBe(valid.length);
    expect(counts.outboxPending).toBe(0);
    expect(await routeDepths(broker, queue)).toEqual({ work: 0, retry: 0, dlq: 0 });
  });
});
