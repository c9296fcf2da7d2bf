import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExchangeError, exitCodeOf, type ErrorCode } from '../../src/errors.js';
import { emptyCounts, exitCodeForCounts } from '../../src/jobs/summary.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';

describe('exit codes (DESIGN §3)', () => {
  // The sysexits values of DESIGN §3, written out here so the test does not read them from the code under test.
  const sysexits = { partial: 1, usage: 64, dataError: 65, unavailable: 69, internal: 70, tempFail: 75, config: 78 };
  const expected: Record<ErrorCode, number> = {
    USAGE: sysexits.usage,
    BAD_INPUT: sysexits.dataError,
    // `records get` of an id the store does not hold: a clean "no", like grep's 1.
    NOT_FOUND: sysexits.partial,
    AMQP_UNAVAILABLE: sysexits.unavailable,
    RECORD_STORE_UNAVAILABLE: sysexits.unavailable,
    SINK_UNAVAILABLE: sysexits.unavailable,
    SOURCE_UNAVAILABLE: sysexits.unavailable,
    UNROUTABLE: sysexits.unavailable,
    LOCKED: sysexits.tempFail,
    STORE_BUSY: sysexits.tempFail,
    // An import stopped by a signal: nothing of the file was kept, run it again later.
    INTERRUPTED: sysexits.tempFail,
    CONFIG: sysexits.config,
    TOPOLOGY_MISMATCH: sysexits.config,
    INTERNAL: sysexits.internal,
  };

  it('maps every error code to its sysexits value', () => {
    for (const [code, exit] of Object.entries(expected)) {
      expect(`${code} → ${exitCodeOf(new ExchangeError(code as ErrorCode, 'x'))}`).toBe(`${code} → ${exit}`);
    }
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x'))).toBe(64);
    expect(exitCodeOf(new TypeError('a bug'))).toBe(70);
  });

  it('is 1 when anything was retried or dead-lettered, 0 otherwise (an empty queue included)', () => {
    expect(exitCodeForCounts(emptyCounts())).toBe(0);
    expect(exitCodeForCounts({ ...emptyCounts(), read: 5, written: 3, stale: 2 })).toBe(0);
    expect(exitCodeForCounts({ ...emptyCounts(), retried: 1 })).toBe(1);
    expect(exitCodeForCounts({ ...emptyCounts(), deadLettered: 1 })).toBe(1);
  });

});

/** The built binary, with nothing reachable: every case here needs no broker and no PostgreSQL. */
describe('the CLI exits with the sysexits code of its error (DESIGN §3)', () => {
  let work: { dir: string; remove: () => void };
  beforeEach(() => { work = tempWorkdir(); });
  afterEach(() => work.remove());
  const closedPort = 'amqp://guest:guest@127.0.0.1:1';
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { cwd: work.dir, env: { EXCHANGE_AMQP_URL: closedPort, ...env } });

  it('0 for a valid configuration', async () => {
    expect((await cli(['config'])).code).toBe(0);
  });

  it('64 for an unknown command or flag', async () => {
    expect((await cli(['frobnicate'])).code).toBe(64);
    expect((await cli(['user', '--no-such-flag'])).code).toBe(64);
  });

  it('65 for a file that cannot be parsed', async () => {
    const file = path.join(work.dir, 'broken.xml');
    fs.writeFileSync(file, '<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация ВерсияСхемы="2.04">\n<Каталог><Товары><Товар><Ид>1</Ид>');
    const result = await cli(['import', 'product', file, '--dry-run']);
    expect(result.code, result.stderr).toBe(65);
    expect(result.stderr).toContain(`${file}:`);
  });

  it('69 when RabbitMQ cannot be reached', async () => {
    const result = await cli(['user']);
    expect(result.code, result.stderr).toBe(69);
  });

  it('75 when another run holds the lock', async () => {
    // The store is created by its first use; then a lock another run holds for the next hour.
    expect((await cli(['records', 'count', 'user'])).code).toBe(0);
    const db = new Database(path.join(work.dir, 'exchange.db'));
    db.prepare('INSERT INTO locks (name, lock_until, locked_at, locked_by) VALUES (?, ?, ?, ?)').run('drain:user', Date.now() + 3_600_000, Date.now(), 'another-host:1');
    db.close();
    const result = await cli(['user', '--exclusive']);
    expect(result.code, result.stderr).toBe(75);
    expect(result.stderr).toContain('drain:user');
  });

  it('78 for a bad configuration', async () => {
    fs.writeFileSync(path.join(work.dir, '.exchangerc.json'), JSON.stringify({ amqp: { prefetch: 'many' } }));
    const result = await cli(['config']);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/^amqp\.prefetch: /m);
  });
});
