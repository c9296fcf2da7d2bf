import fs from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, resolveRecordStoreUrl } from '../../src/config/load-config.js';
import { maskSecrets, maskUrl } from '../../src/config/secrets.js';
import { ExchangeError } from '../../src/errors.js';
import { tempWorkdir } from '../support/envelopes.js';

const dirs: Array<() => void> = [];
afterEach(() => dirs.splice(0).forEach((remove) => remove()));
function workdir(config?: Record<string, unknown>) {
  const work = tempWorkdir(config);
  dirs.push(work.remove);
  return work.dir;
}

describe('configuration (DESIGN §4)', () => {
  it('runs with no file at all: local RabbitMQ, every type to records, embedded SQLite next to the working folder', async () => {
    const dir = workdir();
    fs.rmSync(path.join(dir, '.exchangerc.json'));
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.filepath).toBeUndefined();
    expect(loaded.config.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(loaded.config.amqp.queueType).toBe('quorum');
    expect(loaded.config.amqp.maxAttempts).toBe(5);
    expect(loaded.config.routes).toEqual({ user: ['records'], product: ['records'], mutualsettlements: ['records'], rate: ['records'], 'edi-event': ['records'] });
    expect(loaded.config.syncs).toEqual({});
    expect(resolveRecordStoreUrl(loaded)).toBe(`sqlite:${path.join(dir, 'exchange.db')}`);
  });

  it('layers defaults < file < environment, and resolves sqlite paths against the config file folder', async () => {
    const dir = workdir({ amqp: { url: 'amqp://file:5672', prefetch: 42 }, recordStore: { url: 'sqlite:data/store.db' }, tenant: 'filetenant' });
    const fromFile = await loadConfig({ cwd: dir, env: {} });
    expect(fromFile.config.amqp).toMatchObject({ url: 'amqp://file:5672', prefetch: 42, retryDelayMs: 30000 });
    expect(fromFile.config.tenant).toBe('filetenant');
    expect(resolveRecordStoreUrl(fromFile)).toBe(`sqlite:${path.join(dir, 'data/store.db')}`);
    const fromEnv = await loadConfig({ cwd: '/', env: { EXCHANGE_CONFIG: path.join(dir, '.exchangerc.json'), EXCHANGE_AMQP_URL: 'amqp://env:5672', EXCHANGE_TENANT: 'envtenant' } });
    expect(fromEnv.config.amqp).toMatchObject({ url: 'amqp://env:5672', prefetch: 42 });
    expect(fromEnv.config.tenant).toBe('envtenant');
  });

  it('reads YAML too', async () => {
    const dir = workdir();
    fs.rmSync(path.join(dir, '.exchangerc.json'));
    fs.writeFileSync(path.join(dir, '.exchangerc.yaml'), 'drain:\n  limit: 100\nroutes:\n  product: [records]\n');
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.config.drain.limit).toBe(100);
  });

  it('refuses unknown keys and wrong values with one `path: message` line each (exit 78)', async () => {
    const dir = workdir({ amqp: { prefetch: 'many', colour: 'red' }, recordStore: { url: 'mysql://x' } });
    const error = await loadConfig({ cwd: dir, env: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error.exitCode).toBe(78);
    expect(error.details).toContain(`amqp.colour: unknown key in ${path.join(dir, '.exchangerc.json')}`);
    expect(error.details.some((line: string) => line.startsWith('amqp.prefetch: '))).toBe(true);
    expect(error.details.some((line: string) => line.startsWith('recordStore.url: must be sqlite'))).toBe(true);
  });

  it('says when an explicit config file is missing', async () => {
    const error = await loadConfig({ cwd: '/', configPath: '/nonexistent/.exchangerc.json', env: {} }).catch((e) => e);
    expect(error.exitCode).toBe(78);
    expect(error.message).toContain('/nonexistent/.exchangerc.json');
  });

  it('masks passwords in URLs, webhook codes and registered secrets', async () => {
    expect(maskUrl('amqp://user:pa55word@host:5672/vhost')).toBe('amqp://user:***@host:5672/vhost');
    expect(maskUrl('https://portal.bitrix24.ru/rest/1/abcdef123456/')).toBe('https://portal.bitrix24.ru/rest/1/***/');
    expect(maskSecrets('failed: postgres://app:topsecret@db:5432/x refused')).toBe('failed: postgres://app:***@db:5432/x refused');
    const dir = workdir({ crm: { webhookUrl: 'https://portal.bitrix24.ru/rest/7/q1w2e3r4t5y6/' } });
    await loadConfig({ cwd: dir, env: {} });
    expect(maskSecrets('token q1w2e3r4t5y6 leaked')).toBe('token *** leaked');
  });
});

describe('.exchangerc.example', () => {
  it('is a valid configuration that spells out every default', async () => {
    const dir = workdir();
    fs.rmSync(path.join(dir, '.exchangerc.json'));
    fs.copyFileSync(path.resolve(__dirname, '../../.exchangerc.example'), path.join(dir, '.exchangerc'));
    const fromExample = await loadConfig({ cwd: dir, env: {} });
    fs.rmSync(path.join(dir, '.exchangerc'));
    const defaults = await loadConfig({ cwd: dir, env: {} });
    expect(fromExample.filepath).toBe(path.join(dir, '.exchangerc'));
    expect(fromExample.config).toEqual(defaults.config);
  });

  it('writes out every key of the defaults with its default value (an empty example would not pass)', async () => {
    // The file as written, before any default fills it in: cosmiconfig parses it, the schema does not touch it.
    const dir = workdir();
    fs.rmSync(path.join(dir, '.exchangerc.json'));
    fs.copyFileSync(path.resolve(__dirname, '../../.exchangerc.example'), path.join(dir, '.exchangerc'));
    const raw = (await cosmiconfig('exchange').load(path.join(dir, '.exchangerc')))!.config as Record<string, unknown>;
    fs.rmSync(path.join(dir, '.exchangerc'));
    const defaults = (await loadConfig({ cwd: dir, env: {} })).config as unknown as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (expected: Record<string, unknown>, written: unknown, at: string) => {
      for (const [key, value] of Object.entries(expected)) {
        if (value === undefined) continue; // an optional key without a default is shown commented out
        const keyPath = at ? `${at}.${key}` : key;
        const here = typeof written === 'object' && written !== null ? (written as Record<string, unknown>)[key] : undefined;
        if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) walk(value as Record<string, unknown>, here, keyPath);
        else if (JSON.stringify(here) !== JSON.stringify(value)) missing.push(`${keyPath}: default ${JSON.stringify(value)}, example ${JSON.stringify(here)}`);
      }
    };
    walk(defaults, raw, '');
    expect(missing).toEqual([]);
    // Not vacuous: the walk went through the sections DESIGN §4 and the README name.
    expect(Object.keys(raw)).toEqual(expect.arrayContaining(['amqp', 'recordStore', 'drain', 'import', 'routes', 'crm', 'elasticsearch']));
  });
});
