import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { maskSecrets } from '../../src/config/secrets.js';
import { routeTopology } from '../../src/amqp/topology.js';

const dirs: string[] = [];
afterEach(() => { for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true }); });

function withConfig(config: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-urls-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, '.exchangerc.json'), JSON.stringify(config));
  return dir;
}

const nodes = ['amqp://app:first-secret@10.0.0.1:5672', 'amqp://app:second-secret@10.0.0.2:5672', 'amqp://app:third-secret@10.0.0.3:5672'];

describe('amqp.urls', () => {
  it('lists the nodes in order; amqp.url becomes the first of them', async () => {
    const { config } = await loadConfig({ cwd: withConfig({ amqp: { urls: nodes } }), env: {} });
    expect(config.amqp.urls).toEqual(nodes);
    expect(config.amqp.url).toBe(nodes[0]);
  });

  it('is left out by default: amqp.url alone names the broker', async () => {
    const { config } = await loadConfig({ cwd: withConfig({}), env: {} });
    expect(config.amqp.urls).toBeUndefined();
    expect(config.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
  });

  it('comes from EXCHANGE_AMQP_URLS, comma-separated (spaces and empty items ignored), over the file', async () => {
    const dir = withConfig({ amqp: { urls: ['amqp://file:5672'] } });
    const { config } = await loadConfig({ cwd: dir, env: { EXCHANGE_AMQP_URLS: ` ${nodes[1]}, ${nodes[0]},,` } });
    expect(config.amqp.urls).toEqual([nodes[1], nodes[0]]);
    expect(config.amqp.url).toBe(nodes[1]);
  });

  it('gives way to EXCHANGE_AMQP_URL: the environment names one broker for this run, the file\'s list is not used', async () => {
    const dir = withConfig({ amqp: { urls: nodes } });
    const { config } = await loadConfig({ cwd: dir, env: { EXCHANGE_AMQP_URL: 'amqp://env-broker:5672' } });
    expect(config.amqp.urls).toBeUndefined();
    expect(config.amqp.url).toBe('amqp://env-broker:5672');
  });

  it('refuses an empty list and an entry that is not amqp:// (exit 78, naming the key)', async () => {
    await expect(loadConfig({ cwd: withConfig({ amqp: { urls: [] } }), env: {} })).rejects.toMatchObject({ code: 'CONFIG', details: [expect.stringContaining('amqp.urls: list at least one amqp:// URL')] });
    await expect(loadConfig({ cwd: withConfig({ amqp: { urls: [nodes[0], 'http://10.0.0.2:15672'] } }), env: {} })).rejects.toMatchObject({ code: 'CONFIG', details: [expect.stringContaining('amqp.urls.1: must start with amqp:// or amqps://')] });
  });

  it('registers the password of every node for masking', async () => {
    await loadConfig({ cwd: withConfig({ amqp: { urls: nodes } }), env: {} });
    expect(maskSecrets('first-secret second-secret third-secret')).toBe('*** *** ***');
  });
});

describe('amqp.quorumInitialGroupSize', () => {
  it('is x-quorum-initial-group-size on every queue of a route when set, and absent by default', async () => {
    const set = (await loadConfig({ cwd: withConfig({ amqp: { quorumInitialGroupSize: 3 } }), env: {} })).config;
    const route = routeTopology(set, 'user', 'records');
    for (const args of [route.queueArguments, route.retryArguments, route.deadLetterArguments]) expect(args['x-quorum-initial-group-size']).toBe(3);
    const unset = routeTopology((await loadConfig({ cwd: withConfig({}), env: {} })).config, 'user', 'records');
    for (const args of [unset.queueArguments, unset.retryArguments, unset.deadLetterArguments]) expect(args).not.toHaveProperty('x-quorum-initial-group-size');
  });

  it('does not reach classic queues (the broker would refuse the argument on them)', async () => {
    const config = (await loadConfig({ cwd: withConfig({ amqp: { queueType: 'classic', quorumInitialGroupSize: 3 } }), env: {} })).config;
    expect(routeTopology(config, 'user', 'records').queueArguments).not.toHaveProperty('x-quorum-initial-group-size');
  });

  it('takes positive integers only', async () => {
    await expect(loadConfig({ cwd: withConfig({ amqp: { quorumInitialGroupSize: 0 } }), env: {} })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});
