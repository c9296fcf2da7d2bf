import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir, userBodies } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

const types = ['user', 'product', 'mutualsettlements', 'rate', 'edi-event'];

function scenario() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ routes: { product: ['records'] } });
  const env: NodeJS.ProcessEnv = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, cli: (...args: string[]) => runCli(args, { env, cwd: work.dir }) };
}

/** Whether the broker has it: a passive declare on a throw-away channel. */
async function exists(kind: 'queue' | 'exchange', name: string): Promise<boolean> {
  const channel = await broker.connection.createChannel();
  channel.on('error', () => undefined);
  try {
    await (kind === 'queue' ? channel.checkQueue(name) : channel.checkExchange(name));
    await channel.close();
    return true;
  } catch {
    return false;
  }
}

describe('exchange teardown', () => {
  it('lists with --dry-run, needs --yes (64), refuses queues holding messages (64) unless --force, then deletes every exchange and queue', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const queues = types.flatMap((type) => ['', '.retry', '.dlq'].map((suffix) => `${s.tenant}.${type}.records${suffix}`));
    const exchanges = types.map((type) => `${s.tenant}.${type}`);

    const dry = await s.cli('teardown', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split('\n').filter(Boolean).sort()).toEqual([
      ...exchanges.map((name) => `would delete exchange ${name}`),
      ...queues.map((name) => `would delete queue ${name} (0 messages)`),
    ].sort());

    const withoutYes = await s.cli('teardown');
    expect(withoutYes.code).toBe(64);
    expect(withoutYes.stderr).toContain(`teardown deletes 20 exchanges and queues of tenant ${s.tenant}: it needs --yes`);
    expect(await exists('queue', `${s.tenant}.user.records`)).toBe(true);

    await broker.publishMany(`${s.tenant}.user`, 'user.upsert', userBodies(['u-1', 'u-2', 'u-3']));
    await broker.publish('', `${s.tenant}.product.records.dlq`, '{"parked":1}');
    await broker.waitForDepth(`${s.tenant}.user.records`, 3);
    const refused = await s.cli('teardown', '--yes');
    expect(refused.code).toBe(64);
    const lines = refused.stderr.split('\n');
    expect(lines).toContain(`queue ${s.tenant}.user.records (3 messages)`);
    expect(lines).toContain(`queue ${s.tenant}.product.records.dlq (1 message)`);
    expect(refused.stderr).toContain('teardown refused: 2 queues');
    for (const name of [...queues, ...exchanges]) expect(await exists(name.split('.').length > 2 ? 'queue' : 'exchange', name)).toBe(true);

    const forced = await s.cli('teardown', '--yes', '--force', '--json');
    expect(forced.code, forced.stderr).toBe(0);
    const deleted = forced.json.filter((e) => e.event === 'teardown' && e.action === 'deleted');
    expect(deleted).toHaveLength(20);
    expect(deleted.find((e) => e.name === `${s.tenant}.user.records`)).toMatchObject({ kind: 'queue', messages: 3 });
    for (const name of queues) expect(await exists('queue', name)).toBe(false);
    for (const name of exchanges) expect(await exists('exchange', name)).toBe(false);

    const again = await s.cli('teardown', '--yes');
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('nothing to delete: none of the tenant\'s exchanges and queues exists');
  }, 60_000);

  it('deletes empty queues with --yes alone', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const result = await s.cli('teardown', '--yes');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean)).toHaveLength(20);
    expect(await exists('queue', `${s.tenant}.mutualsettlements.records.dlq`)).toBe(false);
    expect((await s.cli('setup', '--check')).code).toBe(78);
  }, 60_000);
});
