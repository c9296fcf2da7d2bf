import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { binPath, runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/**
 * Issue 10, item 4: a progress bar on a terminal only. Cron, a pipe, --json and --quiet get not a byte of it
 * (no carriage return, no escape sequence, no bar character); a terminal (a pseudo-terminal from `script`)
 * gets count/total against the queue's depth.
 */
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
const progressTraces = /[\r\x1b█░]/;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

async function tenantSetup() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 300 } });
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir });
  expect((await cli('setup')).code).toBe(0);
  return { tenant, work, env, cli };
}

describe('progress', () => {
  it('is absent without a terminal: a drain and an import, plain, --verbose, --json and --quiet', async () => {
    const { tenant, cli } = await tenantSetup();
    for (const extra of [[], ['--verbose'], ['--json'], ['--quiet']]) {
      await broker.publishMany(`${tenant}.user`, 'user.upsert', userBodies(Array.from({ length: 120 }, (_, i) => `u${extra.join('')}${i}`)));
      const drained = await cli('user', '--batch-size', '10', ...extra);
      expect(drained.code, drained.stderr).toBe(0);
      const imported = await cli('import', 'product', catalog, ...extra);
      expect(imported.code, imported.stderr).toBe(0);
      for (const output of [drained.stdout, drained.stderr, imported.stdout, imported.stderr]) expect(output).not.toMatch(progressTraces);
    }
    expect((await cli('records', 'count', 'user')).stdout).toBe('480\n');
  });

  it('on a terminal, shows the drain against the queue depth', async () => {
    const { tenant, work, env } = await tenantSetup();
    await broker.publishMany(`${tenant}.user`, 'user.upsert', userBodies(Array.from({ length: 300 }, (_, i) => `u${i}`)));
    const typescript = path.join(work.dir, 'typescript');
    // `script` runs the drain on a pseudo-terminal (stdout and stderr both a TTY) and keeps what it printed.
    const command = `"${process.execPath}" "${binPath}" user --batch-size 50`;
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('script', ['-q', '-e', '-c', command, typescript], { cwd: work.dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm', ...env }, stdio: ['ignore', 'ignore', 'ignore'] });
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('the drain under script did not finish')); }, 30_000);
      child.on('error', reject);
      child.on('close', (exit) => { clearTimeout(timer); resolve(exit); });
    });
    expect(code).toBe(0);
    // eslint-disable-next-line no-control-regex
    const shown = fs.readFileSync(typescript, 'utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');
    expect(shown).toMatch(new RegExp(`${tenant}\\.user\\.records [█░]{24} \\d+% \\| \\d+/300 messages \\| \\d+ messages/s \\| ETA`));
    expect(await broker.depth(`${tenant}.user.records`)).toBe(0);
  });
});
