import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, uniqueName } from '../support/services.js';

/*
 * Defect 9: versions must not depend on the process's time zone. 1C writes ДатаФормирования="2020-04-07T13:16:06"
 * without a zone; it is Moscow time (import.timeZone's default), 10:16:06 UTC, whatever TZ the importer runs in.
 */
const catalog = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml');
const productId = '008b1914-6635-11e9-80c9-0cc47ab29cd1';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function scenario() {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 400 } });
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  const cli = (tz: string, ...args: string[]) => runCli(args, { env: { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, TZ: tz }, cwd: work.dir });
  return { tenant, work, cli, queue: `${tenant}.product.records` };
}

describe('import versions do not depend on the process time zone', () => {
  it.each(['UTC', 'America/New_York'])('stores and publishes the Moscow reading of ДатаФормирования under TZ=%s', async (tz) => {
    const s = scenario();
    expect((await s.cli(tz, 'setup')).code).toBe(0);
    const imported = await s.cli(tz, 'import', 'product', catalog, '--json');
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.summary).toMatchObject({ read: 36, written: 36, published: 36 });
    const record = JSON.parse((await s.cli(tz, 'records', 'get', 'product', productId, '--json')).stdout);
    expect(record.version).toBe('2020-04-07T10:16:06.000Z');
    await broker.waitForDepth(s.queue, 36);
    const messages = await broker.takeAll(s.queue);
    expect(messages).toHaveLength(36);
    expect(new Set(messages.map((m) => JSON.parse(m.content.toString()).version))).toEqual(new Set(['2020-04-07T10:16:06.000Z']));
    expect(messages.find((m) => JSON.parse(m.content.toString()).id === productId)!.properties.messageId).toBe(`product:${productId}:2020-04-07T10:16:06.000Z`);

    // `publish` reads the same file through the same reader: the same version.
    const published = await s.cli(tz, 'publish', 'product', catalog, '--json');
    expect(published.code, published.stderr).toBe(0);
    await broker.waitForDepth(s.queue, 36);
    const again = await broker.takeAll(s.queue);
    expect(new Set(again.map((m) => JSON.parse(m.content.toString()).version))).toEqual(new Set(['2020-04-07T10:16:06.000Z']));
  });

  it('refuses an unknown import.timeZone with exit 78 naming the key', async () => {
    const work = tempWorkdir({ import: { timeZone: 'Europe/Atlantis' } });
    cleanups.push(async () => work.remove());
    const result = await runCli(['config'], { cwd: work.dir, env: { TZ: 'UTC' } });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('import.timeZone: ');
  });

  it('a later export imported by a writer in another zone is written, not refused as stale', async () => {
    const s = scenario();
    await s.cli('UTC', 'setup');
    const first = await s.cli('America/New_York', 'import', 'product', catalog, '--json');
    expect(first.summary).toMatchObject({ read: 36, written: 36 });
    // 1C exported this 44 minutes after the first file (both Moscow time).
    const later = path.join(s.work.dir, 'import-later.xml');
    fs.writeFileSync(later, fs.readFileSync(catalog, 'utf8')
      .replace('ДатаФормирования="2020-04-07T13:16:06"', 'ДатаФормирования="2020-04-07T14:00:00"')
      .replace('Коврик Mini Голубые кружки', 'Новое имя'));
    const second = await s.cli('UTC', 'import', 'product', later, '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary).toMatchObject({ read: 36, written: 1, unchanged: 35, stale: 0 });
    const record = JSON.parse((await s.cli('Asia/Tokyo', 'records', 'get', 'product', productId, '--json')).stdout);
    expect(record).toMatchObject({ version: '2020-04-07T11:00:00.000Z', data: { name: 'Новое имя, 120x44x1.2 см' } });
  });
});
