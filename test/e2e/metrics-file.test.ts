import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 10, item 5: `--metrics-file <path>` leaves the run's counters in Prometheus' text format for
 * node_exporter's textfile collector, written atomically, per command and route; a failed run writes its exit
 * code and keeps the last success time of the run before it.
 */
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
/** Counted in the file: 36 Товар elements. */
const products = 36;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Exposition { help: Map<string, string>; type: Map<string, string>; samples: Sample[] }

/** The text format read back line by line: # HELP, # TYPE, then `name{label="value",…} value`. */
function parseExposition(text: string): Exposition {
  const parsed: Exposition = { help: new Map(), type: new Map(), samples: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let match = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (match) { parsed.help.set(match[1], match[2]); continue; }
    match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (match) { parsed.type.set(match[1], match[2]); continue; }
    match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a line of the text format: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    parsed.samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  for (const sample of parsed.samples) {
    expect(parsed.help.has(sample.name), `# HELP for ${sample.name}`).toBe(true);
    expect(parsed.type.get(sample.name), `# TYPE for ${sample.name}`).toBe('gauge');
  }
  return parsed;
}

function valueOf(exposition: Exposition, name: string, labels: Record<string, string>): number | undefined {
  const matches = exposition.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  expect(matches.length, `${name}${JSON.stringify(labels)} at most once`).toBeLessThanOrEqual(1);
  return matches[0]?.value;
}

const countMetrics = {
  read: 'exchange_last_run_read',
  written: 'exchange_last_run_written',
  stale: 'exchange_last_run_stale',
  unchanged: 'exchange_last_run_unchanged',
  retried: 'exchange_last_run_retried',
  deadLettered: 'exchange_last_run_dead_lettered',
  published: 'exchange_last_run_published',
} as const;

describe('--metrics-file', () => {
  it('writes a drain\'s counts per command and route, its duration, exit code and success time; a failed run keeps the last success time', async () => {
    const tenant = uniqueName('t');
    const work = tempWorkdir();
    const metricsDir = fs.mkdtempSync(path.join(work.dir, 'textfile-'));
    cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
    expect((await cli('setup')).code).toBe(0);
    const file = path.join(metricsDir, 'exchange-user.prom');

    await broker.publishMany(`${tenant}.user`, 'user.upsert', [...userBodies(['m1', 'm2', 'm3', 'm4', 'm5']), 'not json']);
    const startedAt = Date.now() / 1000;
    const drained = await cli('user', '--json', '--metrics-file', file);
    const finishedAt = Date.now() / 1000;
    expect(drained.code, drained.stderr).toBe(1);
    const summary = drained.summary as Record<string, number>;
    expect(summary).toMatchObject({ read: 6, written: 5, deadLettered: 1, retried: 0 });

    // Only the file itself is left: the temporary file it was written as was renamed over it.
    expect(fs.readdirSync(metricsDir)).toEqual(['exchange-user.prom']);
    const first = parseExposition(fs.readFileSync(file, 'utf8'));
    const route = { command: 'user', route: `${tenant}.user.records` };
    for (const [key, metric] of Object.entries(countMetrics)) expect(valueOf(first, metric, route), metric).toBe(summary[key]);
    expect(valueOf(first, 'exchange_last_run_read', route)).toBe(6);
    expect(valueOf(first, 'exchange_last_run_dead_lettered', route)).toBe(1);
    expect(valueOf(first, 'exchange_last_run_duration_seconds', { command: 'user' })).toBe(summary.durationMs / 1000);
    expect(valueOf(first, 'exchange_last_run_exit_code', { command: 'user' })).toBe(1);
    const success = valueOf(first, 'exchange_last_success_timestamp_seconds', { command: 'user' })!;
    expect(success).toBeGreaterThanOrEqual(Math.floor(startedAt));
    expect(success).toBeLessThanOrEqual(Math.ceil(finishedAt));
    expect(valueOf(first, 'exchange_last_run_timestamp_seconds', { command: 'user' })).toBe(success);

    // The broker unreachable: exit 69, its metrics written all the same, the last success time kept.
    const failed = await runCli(['user', '--json', '--metrics-file', file], { env: { ...env, EXCHANGE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, cwd: work.dir });
    expect(failed.code).toBe(69);
    expect(fs.readdirSync(metricsDir)).toEqual(['exchange-user.prom']);
    const second = parseExposition(fs.readFileSync(file, 'utf8'));
    expect(valueOf(second, 'exchange_last_run_exit_code', { command: 'user' })).toBe(69);
    expect(valueOf(second, 'exchange_last_success_timestamp_seconds', { command: 'user' })).toBe(success);
    expect(valueOf(second, 'exchange_last_run_timestamp_seconds', { command: 'user' })).toBeGreaterThan(success);
    expect(valueOf(second, 'exchange_last_run_read', { command: 'user' })).toBe(0);
    expect(second.samples.filter((s) => s.labels.route !== undefined)).toEqual([]);
  });

  it('an import writes its counts under its command, without a route; a first run that fails has no success time at all', async () => {
    const tenant = uniqueName('t');
    const work = tempWorkdir();
    cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
    const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
    expect((await cli('setup')).code).toBe(0);
    const file = path.join(work.dir, 'exchange-import.prom');
    const imported = await cli('import', 'product', catalog, '--json', '--metrics-file', file);
    expect(imported.code, imported.stderr).toBe(0);
    const metrics = parseExposition(fs.readFileSync(file, 'utf8'));
    expect(valueOf(metrics, 'exchange_last_run_read', { command: 'import' })).toBe(products);
    expect(valueOf(metrics, 'exchange_last_run_written', { command: 'import' })).toBe(products);
    expect(valueOf(metrics, 'exchange_last_run_published', { command: 'import' })).toBe(products);
    expect(valueOf(metrics, 'exchange_last_run_exit_code', { command: 'import' })).toBe(0);

    const neverFile = path.join(work.dir, 'exchange-never.prom');
    const refused = await cli('import', 'product', path.join(work.dir, 'no-such-file.xml'), '--metrics-file', neverFile);
    expect(refused.code).toBe(65);
    const never = parseExposition(fs.readFileSync(neverFile, 'utf8'));
    expect(valueOf(never, 'exchange_last_run_exit_code', { command: 'import' })).toBe(65);
    expect(never.samples.filter((s) => s.name === 'exchange_last_success_timestamp_seconds')).toEqual([]);
  });
});
