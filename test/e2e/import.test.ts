import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestBroker } from '../support/broker.js';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import pg from 'pg';
import { expectedCommerceMlCounts } from '../support/commerceml-counts.js';
import { amqpUrl, createPgSchema, uniqueName } from '../support/services.js';
import { storeCounts } from '../support/store-counts.js';

const fixtures = path.resolve(__dirname, '../../fixtures/1c');
const catalog = path.join(fixtures, 'dobromyslov-commerceml-parser/import0_1.xml');
const offers = path.join(fixtures, 'dobromyslov-commerceml-parser/offers0_1.xml');
const productId = '008b1914-6635-11e9-80c9-0cc47ab29cd1';

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

function scenario(env: NodeJS.ProcessEnv = {}, config: Record<string, unknown> = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 400 }, ...config });
  const fullEnv = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, ...env };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); });
  return { tenant, work, cli: (...args: string[]) => runCli(args, { env: fullEnv, cwd: work.dir }), queue: `${tenant}.product.records` };
}

describe('exchange import (1C → record store → outbox → RabbitMQ)', () => {
  it('imports real CommerceML, publishes one change event per changed record, and nothing when imported again', async () => {
    const s = scenario();
    expect((await s.cli('setup')).code).toBe(0);
    const first = await s.cli('import', 'product', catalog, '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ read: 36, written: 36, published: 36, exitCode: 0 });
    await broker.waitForDepth(s.queue, 36);
    const again = await s.cli('import', 'product', catalog, '--json');
    expect(again.summary).toMatchObject({ read: 36, written: 0, unchanged: 36, published: 0 });
    expect(await broker.depth(s.queue)).toBe(36);
    const [message] = await broker.peekAll(s.queue);
    const event = JSON.parse(message.content.toString());
    expect(message.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2, messageId: `product:${event.id}:2020-04-07T10:16:06.000Z` });
    // ДатаФормирования 2020-04-07T13:16:06 is Moscow time (import.timeZone): the version is that instant in UTC.
    expect(event).toMatchObject({ type: 'product', op: 'upsert', version: '2020-04-07T10:16:06.000Z', source: '1c' });
    // The change events drain into the records sink like any message; the store already holds them.
    const drained = await s.cli('product', '--json');
    expect(drained.summary).toMatchObject({ read: 36, unchanged: 36, written: 0, exitCode: 0 });
  });

  it('merges offers into their product whatever order the files come in, never losing a field', async () => {
    // Offers first: the catalog is newer and brings the version. Catalog first: the older offers still merge,
    // and the merged record takes the next version after the catalog's, so its event orders after the catalog's.
    for (const [order, version] of [[[offers, catalog], '2020-04-07T10:16:06.000Z'], [[catalog, offers], '2020-04-07T10:16:06.001Z']] as const) {
      const s = scenario();
      await s.cli('setup');
      const result = await s.cli('import', 'all', ...order, '--json');
      expect(result.code, result.stderr).toBe(0);
      const record = JSON.parse((await s.cli('records', 'get', 'product', productId, '--json')).stdout);
      expect(record.data).toMatchObject({
        name: 'Коврик Mini Голубые кружки, 120x44x1.2 см', sku: 'KM-242-BSNN', unit: 'Штука', stock: 1,
        prices: [{ typeId: '279b6812-740b-11e8-80c8-0cc47ab29cd1', value: 100, currency: 'RUB' }],
      });
      expect(record.version).toBe(version);
    }
  });

  it('refuses an older copy of the same piece as stale', async () => {
    const s = scenario();
    await s.cli('setup');
    await s.cli('import', 'product', catalog);
    const older = path.join(s.work.dir, 'import-older.xml');
    fs.writeFileSync(older, fs.readFileSync(catalog, 'utf8').replace('ДатаФормирования="2020-04-07T13:16:06"', 'ДатаФормирования="2019-01-01T00:00:00"').replace('Коврик Mini Голубые кружки', 'Старое имя'));
    const result = await s.cli('import', 'product', older, '--json');
    expect(result.summary).toMatchObject({ read: 36, stale: 36, written: 0, published: 0 });
    const record = JSON.parse((await s.cli('records', 'get', 'product', productId, '--json')).stdout);
    expect(record.data.name).toBe('Коврик Mini Голубые кружки, 120x44x1.2 см');
  });

  it('with --full deletes what a full catalog no longer holds, and publishes the deletes', async () => {
    const s = scenario();
    await s.cli('setup');
    await s.cli('import', 'product', catalog);
    const smaller = path.join(s.work.dir, 'import-smaller.xml');
    const text = fs.readFileSync(catalog, 'utf8').replace('ДатаФормирования="2020-04-07T13:16:06"', 'ДатаФормирования="2020-04-08T00:00:00"');
    const start = text.indexOf('<Товар>');
    fs.writeFileSync(smaller, text.slice(0, start) + text.slice(text.indexOf('</Товар>', start) + '</Товар>'.length));
    const withoutFull = await s.cli('import', 'product', smaller, '--json');
    expect(withoutFull.summary).toMatchObject({ read: 35 });
    // 36 products, one of them marked Статус="Удален" in the file: 35 live.
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('35');
    const full = await s.cli('import', 'product', smaller, '--full', '--json');
    expect(full.summary).toMatchObject({ read: 35, written: 1, published: 1 });
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('34');
    const messages = await broker.takeAll(s.queue);
    expect(JSON.parse(messages[messages.length - 1].content.toString())).toMatchObject({ op: 'delete', version: '2020-04-07T21:00:00.000Z' });
    expect(messages[messages.length - 1].fields.routingKey).toBe('product.delete');
  });

  it('exits 65 naming file, line and column for a malformed file, and stores and publishes nothing from it', async () => {
    // Batches of 5: the first 30 records are written inside the file's transaction before the reader meets
    // the cut at the end, so "nothing" here is a rollback, not a reader that stopped before writing.
    const s = scenario({}, { import: { batchSize: 5 } });
    await s.cli('setup');
    const broken = path.join(s.work.dir, 'broken.xml');
    const text = fs.readFileSync(catalog, 'utf8');
    const cut = text.lastIndexOf('</Товар>');
    fs.writeFileSync(broken, `${text.slice(0, cut)}</Товары>`);
    const result = await s.cli('import', 'product', broken, '--json');
    expect(result.code).toBe(65);
    expect(result.stderr).toMatch(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('0');
    expect(await broker.depth(s.queue)).toBe(0);
    const store = await storeCounts(`sqlite:${path.join(s.work.dir, 'exchange.db')}`);
    expect({ records: store.records, outboxPending: store.outboxPending }).toEqual({ records: 0, outboxPending: 0 });
  });

  it('says so when a file holds another type', async () => {
    const s = scenario();
    await s.cli('setup');
    const result = await s.cli('import', 'user', catalog);
    expect(result.code).toBe(65);
    expect(result.stderr).toContain('holds product data, no user records');
    // Rates and EDI events come from synchronizations, never from 1C files.
    const rate = await s.cli('import', 'rate', catalog);
    expect(rate.code).toBe(64);
    expect(rate.stderr).toContain('unknown import type "rate"');
  });

  it('keeps unpublished events in the outbox when the broker returns them, and publishes them on the next run', async () => {
    const s = scenario();
    await s.cli('setup');
    const channel = await broker.connection.createChannel();
    await channel.unbindQueue(s.queue, `${s.tenant}.product`, '#');
    const result = await s.cli('import', 'product', catalog, '--json');
    expect(result.code).toBe(69);
    expect(result.stderr).toContain(`no queue is bound to exchange "${s.tenant}.product"`);
    const status = await s.cli('status', '--json');
    expect((status.json[0] as { pendingOutbox: number }).pendingOutbox).toBe(36);
    await channel.bindQueue(s.queue, `${s.tenant}.product`, '#');
    await channel.close();
    const retry = await s.cli('import', 'product', catalog, '--json');
    expect(retry.summary).toMatchObject({ unchanged: 36, published: 36, exitCode: 0 });
    await broker.waitForDepth(s.queue, 36);
  });

  it('refuses to publish into a broker without the queues: exit 78 naming them', async () => {
    const s = scenario();
    const result = await s.cli('import', 'product', catalog);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`queue ${s.tenant}.product.records: missing`);
  });

  it('imports into PostgreSQL in one transaction per file', async () => {
    const schema = await createPgSchema();
    cleanups.push(schema.drop);
    const s = scenario({ EXCHANGE_RECORD_STORE: schema.url });
    await s.cli('setup');
    const result = await s.cli('import', 'all', offers, catalog, '--json');
    expect(result.code, result.stderr).toBe(0);
    // 44 Предложение in offers0_1.xml, 36 Товар in import0_1.xml.
    expect(result.summary).toMatchObject({ read: 80, exitCode: 0 });
    const record = JSON.parse((await s.cli('records', 'get', 'product', productId, '--json')).stdout);
    expect(record.data).toMatchObject({ name: 'Коврик Mini Голубые кружки, 120x44x1.2 см', stock: 1 });
  });

  it('rolls a file back whole on PostgreSQL: a file malformed at its end leaves nothing of it, the file before it stays', async () => {
    const schema = await createPgSchema();
    cleanups.push(schema.drop);
    // Batches of 5: 30 catalog records are written inside the file's transaction before the cut is met.
    const s = scenario({ EXCHANGE_RECORD_STORE: schema.url }, { import: { batchSize: 5 } });
    await s.cli('setup');
    const broken = path.join(s.work.dir, 'catalog-cut.xml');
    const text = fs.readFileSync(catalog, 'utf8');
    fs.writeFileSync(broken, `${text.slice(0, text.lastIndexOf('</Товар>'))}</Товары>`);
    const result = await s.cli('import', 'all', offers, broken, '--json');
    expect(result.code).toBe(65);
    const client = new pg.Client(schema.url);
    await client.connect();
    try {
      const rows = await client.query("SELECT count(*)::int AS n, count(*) FILTER (WHERE meta->'pieceVersions' ? 'catalog')::int AS catalog FROM records");
      // The offers file's 44 records, and not one catalog piece: the 30 written before the cut were rolled back.
      expect(rows.rows[0]).toEqual({ n: 44, catalog: 0 });
      const outbox = await client.query('SELECT count(*)::int AS n FROM outbox');
      expect(outbox.rows[0].n).toBe(44);
    } finally {
      await client.end();
    }
    // The committed file was still published (DESIGN §9: nothing from the broken file is).
    await broker.waitForDepth(s.queue, 44);
  });

  it('imports 1C CSV exports in both encodings and both delimiters, and refuses `import all` on a CSV', async () => {
    const s = scenario();
    await s.cli('setup');
    const csv = path.join(fixtures, 'csv');
    // Data rows counted in the file itself (no field of these fixtures spans lines): 2 counterparties, 1 document.
    const dataRows = (file: string) => fs.readFileSync(path.join(csv, file), 'latin1').split(/\r?\n/).filter((line) => line.trim() !== '').length - 1;
    expect([dataRows('counterparties-utf8-bom-semicolon.csv'), dataRows('settlements-win1251-semicolon.csv')]).toEqual([2, 1]);
    const users = await s.cli('import', 'user', path.join(csv, 'counterparties-utf8-bom-semicolon.csv'), '--json');
    expect(users.code, users.stderr).toBe(0);
    expect(users.summary).toMatchObject({ read: 2, written: 2, published: 2 });
    const romashka = JSON.parse((await s.cli('records', 'get', 'user', '00-000001', '--json')).stdout);
    expect(romashka.data).toMatchObject({ name: 'Ромашка; ООО', inn: '7701234567', kpp: '770101001' });
    const settlements = await s.cli('import', 'mutualsettlements', path.join(csv, 'settlements-win1251-semicolon.csv'), '--json');
    expect(settlements.code, settlements.stderr).toBe(0);
    expect(settlements.summary).toMatchObject({ read: 1, written: 1, published: 1 });
    const doc = JSON.parse((await s.cli('records', 'get', 'mutualsettlements', 'doc-1', '--json')).stdout);
    expect(doc.data).toMatchObject({ number: 'Акт № 7', counterpartyId: 'ctr-1', amount: 1500.25, debit: 1500.25, balance: 1500.25 });
    await broker.waitForDepth(`${s.tenant}.mutualsettlements.records`, 1);
    await broker.waitForDepth(`${s.tenant}.user.records`, 2);
    const all = await s.cli('import', 'all', path.join(csv, 'products-win1251-comma.csv'));
    expect(all.code).toBe(64);
    expect(all.stderr).toContain('a CSV export holds one type');
  });

  it('reads every real CommerceML file with import all --dry-run', async () => {
    const s = scenario();
    const files = fs.readdirSync(fixtures, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.xml'))
      .map((entry) => path.join(entry.parentPath, entry.name));
    expect(files.length).toBe(38);
    // What each file must give, per type, counted by a tag walk that shares nothing with the reader (DESIGN §9).
    const expected: Record<string, Record<string, number>> = {};
    for (const file of files) {
      const counts = expectedCommerceMlCounts(file);
      expected[file] = Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
    }
    const total = Object.values(expected).flatMap((byType) => Object.values(byType)).reduce((sum, n) => sum + n, 0);
    expect(total).toBe(5151);
    // A dry run says, per file and type, what it would import: a `dry-run` event each with --json.
    const result = await s.cli('import', 'all', ...files, '--dry-run', '--json');
    expect(result.code, result.stderr).toBe(0);
    const got: Record<string, Record<string, number>> = Object.fromEntries(files.map((file) => [file, {}]));
    for (const event of result.json.filter((e) => e.event === 'dry-run')) got[String(event.file)][String(event.type)] = Number(event.records);
    expect(got).toEqual(expected);
    expect(result.summary).toMatchObject({ read: total, written: 0, published: 0 });
  });
});

describe('exchange publish (CI fixtures)', () => {
  it('publishes every JSON line of the fixture as one message, byte for byte, and CommerceML records as messages, with confirms', async () => {
    const s = scenario();
    await s.cli('setup');
    const lines = path.resolve(__dirname, '../../fixtures/demo/product.jsonl');
    const fromDemo = await s.cli('publish', 'product', lines, '--json');
    expect(fromDemo.summary).toMatchObject({ read: 30, published: 30, exitCode: 0 });
    expect((await broker.takeAll(s.queue)).map((message) => message.content.toString())).toEqual(fs.readFileSync(lines, 'utf8').split('\n').filter(Boolean));
    const fromXml = await s.cli('publish', 'product', catalog, '--json');
    expect(fromXml.summary).toMatchObject({ read: 36, published: 36 });
    await broker.waitForDepth(s.queue, 36);
  });

  it('sends a JSON line as written, whatever its spacing, key order and escapes (DESIGN §2: as-is)', async () => {
    const s = scenario();
    await s.cli('setup');
    const file = path.join(s.work.dir, 'hand-written.jsonl');
    // Written by hand: spaces, the data before the head, an escaped letter, a key order no serializer here uses.
    const written = [
      '{ "data": { "name": "ООО \\u0022Ромашка\\u0022", "inn": "7701234567" }, "version": "2026-11-01T10:00:00Z", "id": "u-1", "op": "upsert", "type": "user", "source": "ci" }',
      '{"type":"user","op":"upsert","id":"u-2","version":"2026-11-01T10:00:00Z","source":"ci","data":{"name":"\\u0041nna","inn":"7701234568"}}   ',
      '{"type":"user", "op":"delete", "id":"u-3", "version":"2026-11-01T10:00:00Z", "source":"ci"}',
    ];
    fs.writeFileSync(file, `\uFEFF${written.join('\r\n')}\r\n`);
    const result = await s.cli('publish', 'user', file, '--json');
    expect(result.summary).toMatchObject({ read: 3, published: 3, exitCode: 0 });
    const bodies = (await broker.takeAll(`${s.tenant}.user.records`)).map((message) => message.content.toString('utf8'));
    expect(bodies).toEqual(written);
  });

  it('publishes nothing from a file with a bad line: exit 65 with file:line:column', async () => {
    const s = scenario();
    await s.cli('setup');
    const file = path.join(s.work.dir, 'bad.jsonl');
    fs.writeFileSync(file, `${fs.readFileSync(path.resolve(__dirname, '../../fixtures/demo/user.jsonl'), 'utf8').split('\n')[0]}\n{"type":"user","op":"upsert",\n`);
    const result = await s.cli('publish', 'user', file);
    expect(result.code).toBe(65);
    expect(result.stderr).toContain(`${file}:2:`);
    expect(await broker.depth(`${s.tenant}.user.records`)).toBe(0);
  });
});
