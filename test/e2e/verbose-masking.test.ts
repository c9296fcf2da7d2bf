import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/*
 * Defect 10 (last item): `--verbose` prints stacks and causes, and every line of them is masked. A drain that
 * cannot reach the broker fails with the broker URL (password included) in the error it wraps.
 */
const dirs: string[] = [];
afterEach(() => { for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true }); });

describe('--verbose never prints a secret', () => {
  it.each([[[] as string[]], [['--json']]])('a drain that cannot connect (extra flags %j)', async (extra) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-verbose-'));
    dirs.push(dir);
    const result = await runCli(['user', '--verbose', ...extra], {
      cwd: dir,
      env: { EXCHANGE_AMQP_URL: 'amqp://guest:s3cr3t@127.0.0.1:1', EXCHANGE_TENANT: 'verbose-masking', EXCHANGE_RECORD_STORE: `sqlite:${path.join(dir, 'store.db')}` },
    });
    expect(result.code).toBe(69);
    expect(result.stderr).toContain('cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1');
    // --verbose shows what the error wraps: the socket error under it.
    expect(result.stderr).toContain('caused by: Error: connect ECONNREFUSED 127.0.0.1:1');
    expect(result.stdout).not.toContain('s3cr3t');
    expect(result.stderr).not.toContain('s3cr3t');
  });
});
