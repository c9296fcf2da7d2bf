import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { closestKey, editDistance } from '../../src/config/suggest-key.js';
import { ExchangeError } from '../../src/errors.js';
import { tempWorkdir } from '../support/envelopes.js';

const dirs: Array<() => void> = [];
afterEach(() => dirs.splice(0).forEach((remove) => remove()));

describe('editDistance (optimal string alignment)', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps', () => {
    expect(editDistance('prefetch', 'prefetch')).toBe(0);
    expect(editDistance('prefech', 'prefetch')).toBe(1);
    expect(editDistance('qeueType', 'queueType')).toBe(1);
    expect(editDistance('limti', 'limit')).toBe(1);
    expect(editDistance('retryDelay', 'retryDelayMs')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests the closest key only when it is close enough', () => {
    const amqpKeys = ['url', 'connectTimeoutMs', 'heartbeatSeconds', 'queueType', 'prefetch', 'retryDelayMs', 'maxAttempts', 'confirmTimeoutMs', 'managementUrl'];
    expect(closestKey('prefech', amqpKeys)).toBe('prefetch');
    expect(closestKey('retrydelayms', amqpKeys)).toBe('retryDelayMs');
    expect(closestKey('retryDelay', amqpKeys)).toBe('retryDelayMs');
    expect(closestKey('colour', amqpKeys)).toBeUndefined();
    expect(closestKey('x', amqpKeys)).toBeUndefined();
  });
});

describe('loadConfig with a typo', () => {
  it('names the file and the closest key of the same object, at any depth', async () => {
    const work = tempWorkdir({ amqpp: {}, amqp: { prefech: 1, colour: 'red' }, recordStore: { ulr: 'sqlite:x.db' }, crm: { fields: { compnay: {} } } });
    dirs.push(work.remove);
    const file = path.join(work.dir, '.exchangerc.json');
    const error = (await loadConfig({ cwd: work.dir, env: {} }).catch((e: unknown) => e)) as ExchangeError;
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error.exitCode).toBe(78);
    expect([...error.details].sort()).toEqual([
      `amqp.colour: unknown key in ${file}`,
      `amqp.prefech: unknown key (did you mean "prefetch"?) in ${file}`,
      `amqpp: unknown key (did you mean "amqp"?) in ${file}`,
      `crm.fields.compnay: unknown key (did you mean "company"?) in ${file}`,
      `recordStore.ulr: unknown key (did you mean "url"?) in ${file}`,
    ].sort());
  });

  it('says which environment variable a bad value came from, and carries what could be loaded', async () => {
    const work = tempWorkdir({ amqp: { prefetch: 7, prefech: 1 } });
    dirs.push(work.remove);
    const error = (await loadConfig({ cwd: work.dir, env: { EXCHANGE_RECORD_STORE: 'mysql://x' } }).catch((e: unknown) => e)) as ExchangeError & { loadable?: { config: Record<string, Record<string, unknown>> } };
    expect(error.details).toContain('recordStore.url: must be sqlite:<path> or postgres://… (from EXCHANGE_RECORD_STORE)');
    expect(error.loadable?.config.amqp.prefetch).toBe(7);
    expect(error.loadable?.config.recordStore.url).toBe('sqlite:./exchange.db');
  });

  it('without a file, says nothing about one', async () => {
    const work = tempWorkdir();
    dirs.push(work.remove);
    fs.rmSync(path.join(work.dir, '.exchangerc.json'));
    const error = (await loadConfig({ cwd: work.dir, env: { EXCHANGE_TENANT: 'bad tenant!' } }).catch((e: unknown) => e)) as ExchangeError;
    expect(error.details).toEqual(['tenant: letters, digits, - and _ only (from EXCHANGE_TENANT)']);
  });
});
