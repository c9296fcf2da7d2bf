import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions } from '../../src/recordstore/versioning.js';
import { TestBroker } from '../support/broker.js';
import { waitFor } from '../support/chaos.js';
import { runCli, type CliResult } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, createPgSchema, pgUrl, uniqueName } from '../support/services.js';

/**
 * Issue 7, defects 1–4: the import must never delete what it did not read, never commit half a file, never
 * publish two different contents under one version, and never lose one side of two concurrent imports.
 */
const fixtures = path.resolve(__dirname, '../../fixtures/1c/dobromyslov-commerceml-parser');
const catalog = path.join(fixtures, 'import0_1.xml');
const offers = path.join(fixtures, 'offers0_1.xml');
/** The first Товар of import0_1.xml; offers0_1.xml has its offer (price 100 RUB per the file). */
const firstProduct = 'bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1';
/** Counted in the file: 36 Товар elements, one of them with Статус="Удален". */
const catalogProducts = 36;
const liveCatalogProducts = 35;

let broker: TestBroker;
beforeAll(async () => { broker = await TestBroker.open(); });
afterAll(async () => { await broker.close(); });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

async function scenario(options: { postgres?: boolean } = {}) {
  const tenant = uniqueName('t');
  const work = tempWorkdir({ drain: { idleMs: 300 } });
  const appName = uniqueName('imp');
  const schema = options.postgres ? await createPgSchema() : undefined;
  const storeUrl = schema ? `${schema.url}&application_name=${appName}` : undefined;
  const env = { EXCHANGE_AMQP_URL: amqpUrl, EXCHANGE_TENANT: tenant, ...(storeUrl ? { EXCHANGE_RECORD_STORE: storeUrl } : {}) };
  cleanups.push(async () => { await broker.deleteTenant(tenant); work.remove(); await schema?.drop(); });
  const cli = (...args: string[]) => runCli(args, { env, cwd: work.dir, timeoutMs: 60_000 });
  expect((await cli('setup')).code).toBe(0);
  return { tenant, work, schema, appName, cli, queue: `${tenant}.product.records` };
}

async function recordOf(cli: (...args: string[]) => Promise<CliResult>, id: string) {
  const result = await cli('records', 'get', 'product', id, '--json');
  return result.code === 0 ? JSON.parse(result.stdout) : undefined;
}

/** Runs SQL in a test's own schema (triggers that inject faults). */
async function inSchema(schema: string, sql: string): Promise<void> {
  const client = new pg.Client(pgUrl);
  await client.connect();
  try {
    await client.query(`SET search_path = ${schema}`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The Ид of every element of this name in a file, read with a regular expression: independent of our reader. */
function idsIn(file: string, element: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(new RegExp(`<${element}(?: [^>]*)?>\\s*<Ид>([^<]+)</Ид>`, 'g'))].map((match) => match[1]);
}

function withDate(file: string, date: string, into: string): string {
  fs.writeFileSync(into, fs.readFileSync(file, 'utf8').replace(/ДатаФормирования="[^"]*"/, `ДатаФормирования="${date}"`));
  return into;
}

/** The catalog without its first Товар, dated later: with --full it deletes that product. */
function catalogWithoutFirst(into: string, date: string): string {
  const text = fs.readFileSync(catalog, 'utf8').replace(/ДатаФормирования="[^"]*"/, `ДатаФормирования="${date}"`);
  const start = text.indexOf('<Товар>');
  fs.writeFileSync(into, text.slice(0, start) + text.slice(text.indexOf('</Товар>', start) + '</Товар>'.length));
  return into;
}

describe('defect 1: --full decides what the file holds before it deletes anything', () => {
  it('a catalog given as users deletes nothing and exits 65', async () => {
    const s = await scenario();
    expect((await s.cli('import', 'product', catalog)).code).toBe(0);
    await broker.waitForDepth(s.queue, catalogProducts);
    const wrong = await s.cli('import', 'user', '--full', catalog, '--json');
    expect(wrong.code).toBe(65);
    expect(wrong.stderr).toContain('holds product data, no user records');
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe(String(liveCatalogProducts));
    const status = await s.cli('status', '--json');
    expect((status.json[0] as { pendingOutbox: number }).pendingOutbox).toBe(0);
    expect(await broker.depth(s.queue)).toBe(catalogProducts);
  });
});

describe('defect 2: a PostgreSQL transaction that fails for now re-reads its file or leaves the store as it was', () => {
  it('a serialization failure in the middle of an import still imports the whole file', async () => {
    const s = await scenario({ postgres: true });
    await inSchema(s.schema!.schema, `
      CREATE SEQUENCE fail_once;
      CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_once BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION fail_once();`);
    const result = await s.cli('import', 'product', catalog, '--json');
    expect([0, 75]).toContain(result.code);
    if (result.code === 75) {
      // Temporary failure: the store is as it was; the next run imports the file.
      expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe('0');
      expect((await s.cli('import', 'product', catalog)).code).toBe(0);
    } else {
      expect(result.summary).toMatchObject({ read: catalogProducts, written: catalogProducts, published: catalogProducts });
    }
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe(String(liveCatalogProducts));
    await broker.waitForDepth(s.queue, catalogProducts);
  });

  it('with --full, a retried transaction deletes only what the file no longer holds', async () => {
    const s = await scenario({ postgres: true });
    expect((await s.cli('import', 'product', catalog)).code).toBe(0);
    const smaller = catalogWithoutFirst(path.join(s.work.dir, 'smaller.xml'), '2020-04-08T00:00:00');
    // The newer file also renames a product: the retry must write it, not only delete.
    fs.writeFileSync(smaller, fs.readFileSync(smaller, 'utf8').replace('Portable 140x200x1 см, Слонята', 'Portable 140x200x1 см, Слоны'));
    await inSchema(s.schema!.schema, `
      CREATE SEQUENCE fail_once;
      CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER fail_once BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION fail_once();`);
    const result = await s.cli('import', 'product', '--full', smaller, '--json');
    expect([0, 75]).toContain(result.code);
    if (result.code === 75) expect((await s.cli('import', 'product', '--full', smaller)).code).toBe(0);
    expect((await s.cli('records', 'count', 'product')).stdout.trim()).toBe(String(liveCatalogProducts - 1));
    expect((await recordOf(s.cli, firstProduct)).deleted).toBe(true);
    expect((await recordOf(s.cli, '5edfbda4-19c0-11e7-80c2-0cc47ab29cd1')).data.name).toBe('Портативный коврик Portable 140x200x1 см, Слоны');
  });
});

describe('defect 3: every change event of a record carries a newer version than the one before', () => {
  it('a catalog and offers file of the same ДатаФормирования give events whose versions order their contents', async () => {
    const s = await scenario();
    const sameDate = withDate(offers, '2020-04-07T13:16:06', path.join(s.work.dir, 'offers-same-date.xml'));
    const result = await s.cli('import', 'all', catalog, sameDate, '--json');
    expect(result.code, result.stderr).toBe(0);
    const messages = (await broker.takeAll(s.queue)).map((message) => JSON.parse(message.content.toString()));
    const events = messages.filter((event) => event.id === firstProduct);
    expect(events).toHaveLength(2);
    const [catalogEvent, mergedEvent] = events;
    expect(catalogEvent.data.prices).toBeUndefined();
    expect(mergedEvent.data).toMatchObject({ name: catalogEvent.data.name, prices: [{ value: 100, currency: 'RUB' }] });
    expect(compareVersions(mergedEvent.version, catalogEvent.version)).toBe(1);

    // Another consumer that gets them the other way round (a redelivery, a replay) keeps the prices.
    const other = await scenario();
    const reversed = [...messages].reverse();
    await broker.publishMany(`${other.tenant}.product`, 'product.upsert', reversed.map((event) => JSON.stringify(event)));
    const drained = await other.cli('product', '--json');
    expect(drained.code, drained.stderr).toBe(0);
    // Every product that has both a catalog event and a merged one sees the older one second: stale.
    const perId = new Map<string, number>();
    for (const event of messages) perId.set(event.id, (perId.get(event.id) ?? 0) + 1);
    const twice = [...perId.values()].filter((n) => n === 2).length;
    expect(twice).toBeGreaterThan(30);
    expect(drained.summary).toMatchObject({ read: messages.length, stale: twice });
    expect((await recordOf(other.cli, firstProduct)).data).toMatchObject({ prices: [{ value: 100 }] });
  });

  it('an offers file older than a delete does not revive the product', async () => {
    const s = await scenario();
    expect((await s.cli('import', 'product', catalog)).code).toBe(0);
    const smaller = catalogWithoutFirst(path.join(s.work.dir, 'smaller.xml'), '2020-04-08T00:00:00');
    expect((await s.cli('import', 'product', '--full', smaller)).code).toBe(0);
    const deleted = await recordOf(s.cli, firstProduct);
    expect(deleted.deleted).toBe(true);
    const late = await s.cli('import', 'product', offers, '--json');
    expect(late.code, late.stderr).toBe(0);
    const after = await recordOf(s.cli, firstProduct);
    expect(after.deleted).toBe(true);
    expect(after.version).toBe(deleted.version);
    // No event revives it either: the last event of the product is the delete.
    const events = (await broker.takeAll(s.queue)).map((message) => JSON.parse(message.content.toString())).filter((event) => event.id === firstProduct);
    expect(events[events.length - 1].op).toBe('delete');
  });
});

describe('defect 4: concurrent imports on PostgreSQL never lose a side', () => {
  it('an offers import that commits while a catalog import is in its write keeps both the names and the prices', async () => {
    const s = await scenario({ postgres: true });
    // The catalog import's first row write sleeps 2 s: the offers import runs and commits meanwhile.
    await inSchema(s.schema!.schema, `
      CREATE SEQUENCE slow_once;
      CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('slow_once') = 1 THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$;
      CREATE TRIGGER slow_once BEFORE INSERT OR UPDATE ON records FOR EACH ROW EXECUTE FUNCTION slow_once();`);
    const sameDate = withDate(offers, '2020-04-07T13:16:06', path.join(s.work.dir, 'offers-same-date.xml'));
    const catalogRun = s.cli('import', 'product', catalog, '--json');
    const admin = new pg.Client(pgUrl);
    await admin.connect();
    try {
      await waitFor('the catalog import to sleep in its first write', async () =>
        (await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'PgSleep'", [s.appName])).rowCount === 1, 20_000);
    } finally {
      await admin.end();
    }
    const offersRun = await s.cli('import', 'product', sameDate, '--json');
    const catalogResult = await catalogRun;
    expect(offersRun.code, offersRun.stderr).toBe(0);
    expect([0, 75]).toContain(catalogResult.code);
    if (catalogResult.code === 75) expect((await s.cli('import', 'product', catalog)).code).toBe(0);
    const record = await recordOf(s.cli, firstProduct);
    expect(record.data).toMatchObject({ name: expect.any(String), prices: [{ value: 100, currency: 'RUB' }] });
    // Every product kept both sides: the catalog's name and the offers' prices (ids read from the files here).
    const catalogIds = idsIn(catalog, 'Товар');
    const offerIds = new Set(idsIn(offers, 'Предложение'));
    const records = new Map((await s.cli('records', 'list', 'product', '--json', '--limit', '1000')).json.map((r) => [r.id as string, r as { deleted: boolean; data: { name?: unknown; prices?: unknown[] } }]));
    const both = catalogIds.filter((id) => offerIds.has(id));
    expect(both.length).toBeGreaterThan(30);
    for (const id of both) {
      const product = records.get(id)!;
      if (product.deleted) continue;
      expect(product.data.name, id).toEqual(expect.any(String));
      expect(product.data.prices?.length, id).toBeGreaterThan(0);
    }
  });
});
