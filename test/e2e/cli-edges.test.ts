import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/** Rough edges of issue 10 item 6, each as a user met it: run as cron would (no terminal). */
const demo = path.resolve(__dirname, '../../fixtures/demo');
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function scenario(config: Record<string, unknown> = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir(config);
  const env: NodeJS.ProcessEnv = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, cli: (...args: string[]) => runCli(args, { env, cwd: work.dir }) };
}

function lines(text: string): string[] {
  return text.split('\n').filter(Boolean);
}

describe('records get of a missing id', () => {
  it('exits 1 with "not found: <type> <id>", not 65 (the input was not bad)', async () => {
    const s = scenario();
    const missing = await s.cli('records', 'get', 'user', 'no-such-user');
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)[0]).toBe('exchange: not found: user no-such-user');
    expect(missing.stdout).toBe('');
    const json = await s.cli('records', 'get', 'user', 'no-such-user', '--json');
    expect(json.code).toBe(1);
    expect(json.json.find((e) => e.event === 'error')).toMatchObject({ code: 'NOT_FOUND', exitCode: 1, message: 'not found: user no-such-user' });
  });
});

describe('a config typo', () => {
  it('names the file and suggests the key; `exchange config` still prints what it could load, secrets masked', async () => {
    const s = scenario({ amqp: { prefech: 50, url: 'amqp://guest:pa55w0rd@127.0.0.1:5672', retryDelayMs: 1234 }, drain: { limti: 10 } });
    const file = path.join(s.work.dir, '.exchangerc.json');
    // The URL from the file, not from EXCHANGE_AMQP_URL: its password must be masked.
    const result = await runCli(['config'], { cwd: s.work.dir, env: { EXCHANGE_TENANT: s.tenant } });
    expect(result.code).toBe(78);
    const errorLines = lines(result.stderr);
    expect(errorLines).toContain(`amqp.prefech: unknown key (did you mean "prefetch"?) in ${file}`);
    expect(errorLines).toContain(`drain.limti: unknown key (did you mean "limit"?) in ${file}`);
    // What could be loaded: the valid keys of the file over the defaults, the password masked, on stderr before
    // the problems (stdout stays empty: `exchange config > resolved.json` never leaves half a config).
    expect(result.stdout).toBe('');
    expect(errorLines[0]).toBe(`# partly from ${file}: the keys named below are left out, defaults in their place`);
    const problems = result.stderr.indexOf('exchange: invalid configuration (2 problems)');
    const shown = JSON.parse(result.stderr.slice(result.stderr.indexOf('{'), problems));
    expect(shown.amqp).toMatchObject({ url: 'amqp://guest:***@127.0.0.1:5672', retryDelayMs: 1234, prefetch: 500 });
    expect(shown.drain.limit).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('pa55w0rd');
    // Any other command gets the same lines and no config dump.
    const drain = await s.cli('user');
    expect(drain.code).toBe(78);
    expect(lines(drain.stderr)).toContain(`amqp.prefech: unknown key (did you mean "prefetch"?) in ${file}`);
    expect(drain.stdout).toBe('');
  });

  it('with --json the loadable part is a `config` event with partial: true', async () => {
    const s = scenario({ amqp: { queueTyp: 'classic' } });
    const result = await s.cli('config', '--json');
    expect(result.code).toBe(78);
    expect(result.json[0]).toMatchObject({ event: 'config', partial: true, config: { amqp: { queueType: 'quorum' } } });
    expect(result.json.find((e) => e.event === 'error')).toMatchObject({ code: 'CONFIG', exitCode: 78 });
  });
});

describe('import --dry-run without a terminal', () => {
  it('says what it would import: one line per file and type, on stdout', async () => {
    const s = scenario();
    // Every <Товар> element, the one marked Статус="Удален" included (a delete is a record too).
    const products = fs.readFileSync(catalog, 'utf8').split(/<Товар[ >]/).length - 1;
    const users = lines(fs.readFileSync(path.join(demo, 'user.jsonl'), 'utf8')).length;
    const result = await s.cli('import', 'all', catalog, path.join(demo, 'user.jsonl'), '--dry-run');
    expect(result.code, result.stderr).toBe(0);
    expect(lines(result.stdout)).toEqual([
      `${catalog}: ${products} product (dry run: nothing stored or published)`,
      `${path.join(demo, 'user.jsonl')}: ${users} user (dry run: nothing stored or published)`,
    ]);
    expect(result.stderr).toBe('');
    const json = await s.cli('import', 'all', catalog, '--dry-run', '--json');
    expect(json.json.filter((e) => e.event === 'dry-run')).toEqual([{ event: 'dry-run', command: 'import', file: catalog, type: 'product', records: products }]);
    expect(json.summary).toMatchObject({ read: products, written: 0, published: 0 });
    // An ordinary import under cron stays quiet on success.
    expect((await s.cli('setup')).code).toBe(0);
    const real = await s.cli('import', 'user', path.join(demo, 'user.jsonl'));
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout + real.stderr).toBe('');
  });
});

describe('setup --check without a terminal', () => {
  it('prints one line per thing checked with its state', async () => {
    const s = scenario();
    const missing = await s.cli('setup', '--check');
    expect(missing.code).toBe(78);
    expect(lines(missing.stdout)).toContain(`exchange ${s.tenant}.user: missing`);
    expect(lines(missing.stdout)).toContain(`queue ${s.tenant}.user.records.retry: missing`);
    expect((await s.cli('setup')).code).toBe(0);
    const ok = await s.cli('setup', '--check');
    expect(ok.code, ok.stderr).toBe(0);
    const expected = ['user', 'product', 'mutualsettlements', 'rate', 'edi-event'].flatMap((type) => [
      `exchange ${s.tenant}.${type}: ok`,
      `queue ${s.tenant}.${type}.records: ok`,
      `queue ${s.tenant}.${type}.records.retry: ok`,
      `queue ${s.tenant}.${type}.records.dlq: ok`,
    ]);
    expect(lines(ok.stdout).sort()).toEqual([...expected].sort());
    const channel = await broker.connection.createChannel();
    await channel.deleteQueue(`${s.tenant}.user.records.dlq`);
    await channel.assertQueue(`${s.tenant}.user.records.dlq`, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await channel.close();
    const differs = await s.cli('setup', '--check', '--json');
    expect(differs.code).toBe(78);
    const checks = differs.json.filter((e) => e.event === 'check');
    expect(checks).toHaveLength(expected.length);
    expect(checks.find((e) => e.name === `queue ${s.tenant}.user.records.dlq`)).toMatchObject({ state: expect.stringMatching(/^differs: inequivalent arg 'x-queue-type'/) });
    expect(checks.filter((e) => e.state !== 'ok')).toHaveLength(1);
  });
});

describe('numeric flags are checked like their config keys', () => {
  it.each([
    ['--prefetch', '70000', 'from 1 to 65535'],
    ['--prefetch', '0', 'from 1 to 65535'],
    ['--batch-size', '10001', 'from 1 to 10000'],
    ['--batch-size', 'ten', 'from 1 to 10000'],
  ])('%s %s exits 64 naming the flag and the range, before touching anything', async (flag, value, range) => {
    const work = tempWorkdir();
    try {
      // An unreachable broker: a flag checked late would show as 69 or 70 instead of 64.
      const result = await runCli(['user', flag, value], { env: { EXCHANGE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, cwd: work.dir });
      expect(result.code, result.stderr).toBe(64);
      expect(result.stderr).toContain(`option '${flag} <n>' argument '${value}' is invalid`);
      expect(result.stderr).toContain(range);
    } finally {
      work.remove();
    }
  });
});

describe('usage errors under --json', () => {
  it('print an error event too, with exit code 64', async () => {
    const work = tempWorkdir();
    try {
      for (const args of [['user', '--prefetch', '70000', '--json'], ['no-such-command', '--json'], ['user', '--no-such-flag', '--json']]) {
        const result = await runCli(args, { env: { EXCHANGE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, cwd: work.dir });
        expect(result.code, args.join(' ')).toBe(64);
        expect(result.json.find((event) => event.event === 'error'), args.join(' ')).toMatchObject({ code: 'USAGE', exitCode: 64 });
      }
    } finally {
      work.remove();
    }
  });
});

describe('--help of a command', () => {
  it('shows the global flags and where each option\'s default comes from', async () => {
    const result = await runCli(['user', '--help'], { env: {} });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Global Options:');
    for (const flag of ['--config <path>', '--json', '--quiet', '--verbose', '--dry-run', '--metrics-file <path>']) expect(result.stdout).toContain(flag);
    expect(result.stdout.replace(/\s+/g, ' ')).toContain('(default: amqp.prefetch, 500)');
    expect(result.stdout.replace(/\s+/g, ' ')).toContain('(default: drain.batchSize, 200)');
  });
});
