import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { binPath, runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 10, item 3: `exchange status` is a monitoring check. Exit 1 and one line per problem when a dlq holds
 * messages, an outbox event waits longer than the threshold, or the last run of a command failed; exit 0 when
 * nothing is stuck. A closed stdout (`status | head -1`) is the reader going away, never a crash.
 */
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
/** Counted in the file: 36 Товар elements. */
const products = 36;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

async function tenantSetup(config: Record<string, unknown> = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir(config);
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
  const setup = await cli('setup');
  expect(setup.code, setup.stderr).toBe(0);
  return { tenant, work, env, cli };
}

interface StatusJson { event: string; problems: Array<Record<string, unknown>>; exitCode: number; maxOutboxAgeSeconds: number }

/** Runs the binary with stdout a pipe whose reading end this process closes before the child writes a byte. */
function runWithClosedStdout(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`exchange ${args.join(' ')} did not finish\n${stderr}`)); }, 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stderr }); });
  });
}

function runShell(script: string, env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${script} did not finish\n${stderr}`)); }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('exchange status as a monitoring check', () => {
  it('exits 0 when nothing is stuck, 1 with a line naming the dlq and its depth when one holds a message', async () => {
    const { tenant, cli } = await tenantSetup();
    const healthy = await cli('status', '--json');
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.json[0]).toMatchObject({ event: 'status', problems: [], exitCode: 0, maxOutboxAgeSeconds: 300 });
    const quietHealthy = await cli('status', '--quiet');
    expect(quietHealthy.code).toBe(0);
    expect(quietHealthy.stdout).toBe('');

    await broker.publish(`${tenant}.user`, 'user.upsert', 'not json at all');
    const drained = await cli('user', '--json');
    expect(drained.code).toBe(1);
    expect(drained.summary).toMatchObject({ read: 1, deadLettered: 1 });

    const dlq = `${tenant}.user.records.dlq`;
    const text = await cli('status');
    expect(text.code, text.stderr).toBe(1);
    const problemLines = text.stdout.split('\n').filter((line) => line.startsWith('problem: '));
    expect(problemLines).toEqual([`problem: ${dlq} holds 1 dead-lettered message: see \`exchange replay-dlq user --dry-run\``]);

    const json = await cli('status', '--json');
    expect(json.code).toBe(1);
    const report = json.json[0] as unknown as StatusJson;
    expect(report.exitCode).toBe(1);
    expect(report.problems).toEqual([{ kind: 'dlq', queue: dlq, count: 1, message: problemLines[0].slice('problem: '.length) }]);

    // --quiet is the cron form: the problem lines only, nothing when all is well.
    const quiet = await cli('status', '--quiet');
    expect(quiet.code).toBe(1);
    expect(quiet.stdout).toBe(`${problemLines[0]}\n`);
  });

  it('exits 1 for an outbox event older than the threshold (flag over config) and for a failed last run, until the next run of that command succeeds', async () => {
    const { tenant, cli } = await tenantSetup({ status: { maxOutboxAgeSeconds: 0 } });
    const queue = `${tenant}.product.records`;
    // No binding: the broker returns every event, the import fails with 69 and its events stay pending.
    const channel = await broker.connection.createChannel();
    cleanups.push(async () => { await channel.close().catch(() => undefined); });
    await channel.unbindQueue(queue, `${tenant}.product`, '#');
    const importing = await cli('import', 'product', catalog, '--json');
    expect(importing.code).toBe(69);

    const strict = await cli('status', '--json');
    expect(strict.code).toBe(1);
    const strictReport = strict.json[0] as unknown as StatusJson;
    expect(strictReport.maxOutboxAgeSeconds).toBe(0);
    expect(strictReport.problems.map((p) => p.kind).sort()).toEqual(['failed-run', 'outbox']);
    expect(strictReport.problems.find((p) => p.kind === 'outbox')).toMatchObject({ pending: products });
    expect(strictReport.problems.find((p) => p.kind === 'failed-run')).toMatchObject({ command: 'import' });

    const lenient = await cli('status', '--json', '--max-outbox-age', '3600');
    expect(lenient.code).toBe(1);
    expect((lenient.json[0] as unknown as StatusJson).problems.map((p) => p.kind)).toEqual(['failed-run']);
    const lenientText = await cli('status', '--max-outbox-age', '3600');
    expect(lenientText.stdout.split('\n').filter((line) => line.startsWith('problem: '))).toEqual([
      expect.stringMatching(/^problem: the last import run \(#\d+, .+\) failed: /),
    ]);

    expect((await cli('status', '--max-outbox-age', 'soon')).code).toBe(64);

    await channel.bindQueue(queue, `${tenant}.product`, '#');
    const published = await cli('publish', '--outbox', '--json');
    expect(published.summary).toMatchObject({ published: products, exitCode: 0 });
    // The outbox is empty now, but the last import still failed.
    const stillFailed = await cli('status', '--json');
    expect((stillFailed.json[0] as unknown as StatusJson).problems.map((p) => p.kind)).toEqual(['failed-run']);
    const again = await cli('import', 'product', catalog, '--json');
    expect(again.code, again.stderr).toBe(0);
    await broker.waitForDepth(queue, products);
    const fine = await cli('status', '--json');
    expect(fine.code, fine.stderr).toBe(0);
    expect(fine.json[0]).toMatchObject({ problems: [], exitCode: 0, pendingOutbox: 0 });
  });

  it('shows each synchronization with its state, and a failed sync as a failed run', async () => {
    // A port nothing listens on: the CBR cannot be reached, so the sync fails with 69 and keeps the error.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { cli } = await tenantSetup({ syncs: {
      cbr: { provider: 'cbr-rates', schedule: '1d', settings: { url: `http://127.0.0.1:${port}/scripts/XML_daily.asp`, daysBack: 1, timeoutMs: 2000 } },
      odata: { provider: 'cbr-rates', schedule: '1h', enabled: false, settings: { url: `http://127.0.0.1:${port}/other`, daysBack: 1 } },
    } });
    const before = await cli('status', '--json');
    expect(before.code, before.stderr).toBe(0);
    expect((before.json[0] as unknown as { syncs: unknown[] }).syncs).toEqual([
      expect.objectContaining({ name: 'cbr', provider: 'cbr-rates', enabled: true, status: 'never run', cursor: null, error: null }),
      expect.objectContaining({ name: 'odata', enabled: false, status: 'never run' }),
    ]);

    const failed = await cli('sync', 'cbr');
    expect(failed.code).toBe(69);
    const after = await cli('status', '--json');
    expect(after.code).toBe(1);
    const report = after.json[0] as unknown as StatusJson & { syncs: Array<Record<string, unknown>> };
    expect(report.syncs[0]).toMatchObject({ name: 'cbr', status: 'error', error: expect.stringContaining(`127.0.0.1:${port}`) });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'failed-run', command: 'sync:cbr' })]);
    const text = await cli('status');
    expect(text.stdout).toMatch(new RegExp(`^sync cbr \\(cbr-rates\\): error, cursor none, last finished \\S+: .*127\\.0\\.0\\.1:${port}`, 'm'));
    expect(text.stdout).toMatch(/^sync odata \(cbr-rates\): disabled, never run, cursor none$/m);
  });

  it('a run whose process died (kill -9) shows as gone, and is a problem until a later run of the command finishes', async () => {
    const { work, env, cli } = await tenantSetup();
    // A drain that waits for more (--idle-ms) is at work, journaled as running, when it is killed.
    let pid = 0;
    const killed = runCli(['user', '--idle-ms', '60000'], { env, cwd: work.dir, timeoutMs: 90_000, onSpawn: (p) => { pid = p; } });
    await waitFor('the drain to be journaled as running', async () => (await cli('runs', '--json')).json.some((run) => run.command === 'user' && run.status === 'running'), 30_000, 100);
    process.kill(pid, 'SIGKILL');
    expect((await killed).code).toBeNull();

    // Its heartbeat is still fresh: nobody can tell it from a run at work yet.
    const fresh = await cli('status', '--json');
    expect(fresh.code, fresh.stdout).toBe(0);
    // Ten minutes later, as far as its row can tell (the heartbeat is what ages).
    const db = new Database(path.join(work.dir, 'exchange.db'));
    db.prepare("UPDATE runs SET heartbeat_at = ? WHERE status = 'running'").run(new Date(Date.now() - 600_000).toISOString());
    db.close();

    const runs = await cli('runs', '--json');
    expect(runs.json.find((run) => run.command === 'user')).toMatchObject({ status: 'gone', owner: expect.stringMatching(new RegExp(`:${pid}$`)) });
    const report = await cli('status', '--json');
    expect(report.code).toBe(1);
    expect((report.json[0] as unknown as StatusJson).problems).toEqual([expect.objectContaining({ kind: 'gone-run', command: 'user', owner: expect.stringMatching(new RegExp(`:${pid}$`)) })]);
    expect((await cli('status')).stdout).toMatch(/^problem: the last user run \(#\d+, .*\) died without finishing: no sign of life since /m);

    // A later run of the same command that finishes makes it history.
    expect((await cli('user')).code).toBe(0);
    const after = await cli('status', '--json');
    expect(after.code, after.stdout).toBe(0);
  }, 120_000);

  it('a closed stdout is the reader going away: status exits with its own outcome, nothing about EPIPE', async () => {
    const { tenant, work, env } = await tenantSetup();
    for (const args of [['status'], ['status', '--json'], ['runs'], ['--help']]) {
      const closed = await runWithClosedStdout(args, env, work.dir);
      expect({ args, code: closed.code, signal: closed.signal, stderr: closed.stderr }).toEqual({ args, code: 0, signal: null, stderr: '' });
    }
    const head = await runShell(`set -o pipefail; "${process.execPath}" "${binPath}" status | head -1`, env, work.dir);
    expect(head.stderr).toBe('');
    expect(head.code).toBe(0);
    expect(head.stdout.split('\n').filter(Boolean)).toHaveLength(1);

    // The outcome is the check's, not a crash's: with a dead letter it is 1, still without a word on stderr.
    await broker.publish(`${tenant}.user`, 'user.upsert', 'not json at all');
    const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
    expect((await cli('user')).code).toBe(1);
    const closed = await runWithClosedStdout(['status'], env, work.dir);
    expect({ code: closed.code, stderr: closed.stderr }).toEqual({ code: 1, stderr: '' });
  });
});
