#!/usr/bin/env node
// Import benchmark (issue 3, point 7). Run with `npm run bench:import` (builds first).
//
//   (a) `exchange import product <BENCH_IMPORT_MB MiB import.xml> --dry-run --json` (the built CLI, spawned):
//       MiB/s and peak RSS of the streamed reader + mapper
//   (b) the same on the 50 MiB file (same shape), for a like-for-like comparison with (c)
//   (c) fast-xml-parser (XMLParser with the options of src/onec/read-commerceml.ts) parsing the 50 MiB file
//       whole, readFileSync + parse, in a child process: MiB/s and peak RSS
//   (d) `exchange import` publishing BENCH_OUTBOX_N pending outbox rows (confirms, mandatory, window 1000):
//       the rows are made by a real import of a generated file of N small products into a fresh SQLite store
//       while the tenant's product queue is unbound from its exchange (every event is returned, so the
//       import exits 69 and all N rows stay pending); the queue is bound again and
//       `exchange import product <one already-imported product>` publishes the pending outbox. Its summary's
//       durationMs (no Node start-up; connect, store open and the one-product read included) against `published`.
//   (e) raw amqplib confirm-publishing of the same N message bodies (read from that outbox beforehand) with the
//       same properties to a topic exchange bound to one quorum queue: confirm channel, at most 1000
//       unconfirmed, waitForConfirms at the end; run before and after (d), the mean counts
//
// The generated XML files go to <os.tmpdir()>/exchange-import-bench/ and are reused when present with the
// recorded size (BENCH_CLEAN=1 deletes them at the end). Env:
//   BENCH_IMPORT_MB (1024)  BENCH_OUTBOX_N (100000)  BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672)
//   BENCH_DATA_DIR (<tmp>/exchange-import-bench)  BENCH_CLEAN (0)  BENCH_TIMEOUT_S (whole run)
//   BENCH_CLI_NODE_ARGS: node flags for the (d) publishing run only (--cpu-prof --cpu-prof-dir=/tmp/prof)
//   BENCH_SCENARIOS (a,b,c,d,e; d and e run together): e.g. d,e measures the outbox alone, without generating the 1 GiB file
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ensureCatalog } from './generate-catalog.mjs';
import {
  bin, CLI_SHORT_TIMEOUT_MS, cliEnv, connect, cpuOf, environment, fail, formatTable, intEnv, lastSummary, log, makeTempDir, messageCount,
  onChannel, onCleanup, publishConfirmed, requireDist, root, runCli, runMain, runNode, runTag, setScriptName, sleep, tenantTopology,
  withTimeout, writeResults,
} from './support.mjs';

setScriptName('import-bench');

const MIB = 1024 * 1024;
const IMPORT_MB = intEnv('BENCH_IMPORT_MB', 1024);
const PARSE_MB = 50;
const OUTBOX_N = intEnv('BENCH_OUTBOX_N', 100_000);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'a,b,c,d,e').split(',').map((s) => s.trim()).filter(Boolean);
for (const s of SCENARIOS) if (!['a', 'b', 'c', 'd', 'e'].includes(s)) fail(`unknown scenario "${s}" in BENCH_SCENARIOS`);
const wants = (...letters) => letters.some((s) => SCENARIOS.includes(s));
const PUBLISH_WINDOW = 1000; // the tool's ConfirmPublisher window
const DATA_DIR = process.env.BENCH_DATA_DIR ?? path.join(os.tmpdir(), 'exchange-import-bench');
const CLEAN = process.env.BENCH_CLEAN === '1';

const TARGETS = { importVsParse: 0.5, peakRssMb: 200, publishVsRaw: 0.8 };

// Time limits: generous floors, scaled with the sizes (a 1 GiB / 100k run takes a few minutes).
const GENERATE_TIMEOUT_MS = Math.max(120_000, IMPORT_MB * 1000);       // 1 GiB → 17 min ceiling (≈ 20 s normally)
const IMPORT_TIMEOUT_MS = Math.max(120_000, IMPORT_MB * 1500);         // 1 GiB → 25 min ceiling (dry run at ≥ 0.7 MiB/s)
const PARSE_TIMEOUT_MS = 300_000;
const OUTBOX_IMPORT_TIMEOUT_MS = Math.max(120_000, OUTBOX_N * 5);      // 100k → 500 s
const PUBLISH_TIMEOUT_MS = Math.max(120_000, OUTBOX_N * 5);            // 100k → 500 s (≥ 200 msg/s)
const TOTAL_TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', Math.ceil((GENERATE_TIMEOUT_MS + IMPORT_TIMEOUT_MS + OUTBOX_IMPORT_TIMEOUT_MS + 2 * PUBLISH_TIMEOUT_MS) / 1000) + 900) * 1000;

let tmpDir;

// ---------------------------------------------------------------- helpers

const mib = (bytes) => bytes / MIB;

/** Waits until the queue shows `expected` messages (confirms mean they are there; the count may lag). */
async function expectQueueCount(connection, queue, expected, what) {
  let count = -1;
  for (let tries = 0; tries < 100; tries++) {
    count = await messageCount(connection, queue);
    if (count === expected) return;
    await sleep(100);
  }
  throw new Error(`${what}: queue ${queue} holds ${count} messages, expected ${expected}`);
}

function expectExit(result, what, expected = 0) {
  if (result.code !== expected) throw new Error(`${what} exited ${result.code ?? result.signal} (expected ${expected}):\n${result.stderr.trim()}\n${result.stdout.trim()}`);
}

/** The JSON summary the CLI prints as its last stdout line with --json. */
function summaryOf(result, what) {
  const summary = lastSummary(result.stdout);
  if (!summary) throw new Error(`${what}: no JSON summary as last stdout line (exit ${result.code ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  return summary;
}

/** The XMLParser options of src/onec/read-commerceml.ts, taken from the source so the two never drift apart. */
function toolParserOptions() {
  const source = readFileSync(path.join(root, 'src/onec/read-commerceml.ts'), 'utf8');
  const match = /new XMLParser\((\{[\s\S]*?\})\);/.exec(source);
  if (!match) throw new Error('cannot find `new XMLParser({...})` in src/onec/read-commerceml.ts');
  const options = new Function(`return (${match[1]});`)();
  if (typeof options !== 'object' || options === null) throw new Error('the XMLParser options of src/onec/read-commerceml.ts are not an object literal');
  return options;
}

// ---------------------------------------------------------------- data

async function catalogs() {
  mkdirSync(DATA_DIR, { recursive: true });
  const progress = (label) => {
    let last = 0;
    return (bytes) => {
      if (performance.now() - last < 5000) return;
      last = performance.now();
      log(`  ${label}: ${Math.round(mib(bytes))} MiB written`);
    };
  };
  const want = [
    { key: 'big', file: path.join(DATA_DIR, `import-${IMPORT_MB}mib.xml`), targetBytes: IMPORT_MB * MIB },
    { key: 'parse', file: path.join(DATA_DIR, `import-${PARSE_MB}mib.xml`), targetBytes: PARSE_MB * MIB },
    { key: 'outbox', file: path.join(DATA_DIR, `import-${OUTBOX_N}-small.xml`), count: OUTBOX_N, small: true },
    // Product 0 of the outbox file, byte for byte: already imported, it changes nothing and only publishes.
    { key: 'one', file: path.join(DATA_DIR, 'import-1-small.xml'), count: 1, small: true },
  ];
  const result = {};
  for (const spec of want) {
    // Only the files the chosen scenarios read.
    if ((spec.key === 'big' && !wants('a')) || (spec.key === 'parse' && !wants('b', 'c')) || (['outbox', 'one'].includes(spec.key) && !wants('d', 'e'))) continue;
    if (spec.key === 'parse' && IMPORT_MB === PARSE_MB && result.big) { result.parse = result.big; continue; }
    const { key, ...options } = spec;
    const catalog = await withTimeout(ensureCatalog({ ...options, onProgress: progress(path.basename(spec.file)) }), GENERATE_TIMEOUT_MS, `generating ${spec.file}`);
    log(`${catalog.reused ? 'reused' : `generated in ${catalog.seconds.toFixed(1)} s`}: ${catalog.file} (${mib(catalog.bytes).toFixed(1)} MiB, ${catalog.products} products, ${Math.round(catalog.bytes / catalog.products)} B/product)`);
    result[key] = catalog;
    if (CLEAN) onCleanup(`generated ${catalog.file}`, () => { rmSync(catalog.file, { force: true }); rmSync(`${catalog.file}.meta.json`, { force: true }); });
  }
  return result;
}

// ---------------------------------------------------------------- scenarios

async function dryRunImport(catalog, letter) {
  const env = cliEnv(`bench${letter}_${runTag}`, `sqlite:${path.join(tmpDir, `dry-${letter}.db`)}`);
  const run = await runCli(['import', 'product', catalog.file, '--dry-run', '--json'], { env, cwd: tmpDir, timeoutMs: IMPORT_TIMEOUT_MS, label: `(${letter}) exchange import --dry-run` });
  const summary = summaryOf(run, `(${letter}) exchange import --dry-run`);
  expectExit(run, `(${letter}) exchange import --dry-run`);
  if (summary.read !== catalog.products) throw new Error(`(${letter}) summary says read=${summary.read}, the file holds ${catalog.products} products`);
  if (summary.written !== 0 || summary.published !== 0) throw new Error(`(${letter}) a dry run wrote or published: ${JSON.stringify(summary)}`);
  const jobSeconds = summary.durationMs / 1000;
  return {
    bytes: catalog.bytes, products: catalog.products, seconds: run.seconds, jobSeconds,
    mibPerSecond: mib(catalog.bytes) / jobSeconds, wallMibPerSecond: mib(catalog.bytes) / run.seconds,
    peakRssMb: run.peakRssMb, cpuSeconds: run.cpuSeconds, summary,
    verified: `read=${summary.read} = products generated`,
  };
}

async function wholeDocumentParse(catalog) {
  const options = toolParserOptions();
  // Runs from the project root, so `fast-xml-parser` resolves to node_modules/fast-xml-parser.
  const script = `
    import { readFileSync } from 'node:fs';
    import { XMLParser } from 'fast-xml-parser';
    const [file, optionsJson] = process.argv.slice(1);
    const parser = new XMLParser(JSON.parse(optionsJson));
    const t0 = performance.now();
    const doc = parser.parse(readFileSync(file, 'utf8'));
    const seconds = (performance.now() - t0) / 1000;
    const items = doc?.['КоммерческаяИнформация']?.['Каталог']?.['Товары']?.['Товар'];
    const products = Array.isArray(items) ? items.length : items ? 1 : 0;
    process.stdout.write(JSON.stringify({ seconds, products, maxRssKb: process.resourceUsage().maxRSS }) + '\\n');
  `;
  const run = await runNode(['--input-type=module', '-e', script, catalog.file, JSON.stringify(options)], { env: process.env, cwd: root, timeoutMs: PARSE_TIMEOUT_MS, label: '(c) fast-xml-parser whole document' });
  expectExit(run, '(c) fast-xml-parser whole document');
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1));
  if (out.products !== catalog.products) throw new Error(`(c) the parsed document holds ${out.products} Товар, the file ${catalog.products}`);
  return {
    bytes: catalog.bytes, products: catalog.products, seconds: run.seconds, jobSeconds: out.seconds,
    mibPerSecond: mib(catalog.bytes) / out.seconds, wallMibPerSecond: mib(catalog.bytes) / run.seconds,
    peakRssMb: run.peakRssMb ?? out.maxRssKb / 1024, cpuSeconds: run.cpuSeconds, parserOptions: options,
    verified: `${out.products} Товар in the parsed document`,
  };
}

/** (d) and (e): the tool publishing a pending outbox, and raw amqplib confirm-publishing the same bodies. */
async function outboxPublish(connection, data) {
  const tenant = `benchd_${runTag}`;
  const dbFile = path.join(tmpDir, `${tenant}.db`);
  const env = cliEnv(tenant, `sqlite:${dbFile}`);

  const { config, topology: { routesOf, bindingPattern } } = await tenantTopology(connection, tenant);
  const setup = await runCli(['setup'], { env, cwd: tmpDir, timeoutMs: CLI_SHORT_TIMEOUT_MS, label: '(d) exchange setup' });
  expectExit(setup, 'exchange setup');
  const productRoutes = routesOf(config, 'product');

  // 1. Import with every product queue unbound: the records and their N outbox rows are committed, the
  //    first page of events is returned (mandatory), the run stops with exit 69 and the outbox stays.
  for (const route of productRoutes) await onChannel(connection, (ch) => ch.unbindQueue(route.queue, route.exchange, bindingPattern));
  log(`(d) importing ${OUTBOX_N} products into ${path.basename(dbFile)} with the product queue unbound (exit 69 expected)…`);
  const load = await runCli(['import', 'product', data.outbox.file, '--json'], { env, cwd: tmpDir, timeoutMs: OUTBOX_IMPORT_TIMEOUT_MS, label: '(d) exchange import (unbound)' });
  const loadSummary = summaryOf(load, '(d) exchange import (unbound)');
  expectExit(load, '(d) exchange import (unbound)', 69);
  if (loadSummary.written !== OUTBOX_N || loadSummary.published !== 0) throw new Error(`(d) the unbound import should write ${OUTBOX_N} and publish 0: ${JSON.stringify(loadSummary)}`);
  for (const route of productRoutes) {
    for (const q of [route.queue, route.retryQueue, route.deadLetterQueue]) {
      const count = await messageCount(connection, q);
      if (count !== 0) throw new Error(`(d) ${q} holds ${count} messages after the unbound import`);
    }
  }

  // The bodies of the pending rows, for (e), and their sizes.
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  let bodies;
  try {
    const rows = db.prepare('SELECT message FROM outbox WHERE published_at IS NULL ORDER BY seq').all();
    bodies = rows.map((row) => Buffer.from(row.message));
  } finally {
    db.close();
  }
  if (bodies.length !== OUTBOX_N) throw new Error(`(d) ${bodies.length} pending outbox rows, expected ${OUTBOX_N}`);
  const bodyBytes = bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length;

  // (e) raw: the same bodies and properties, one exchange → one quorum queue with the tool's queue arguments.
  //     Run once before and once after (d), on an empty queue each time; (e) is their mean.
  const [route] = productRoutes;
  const rawExchange = `bench.${runTag}.raw`;
  const rawQueue = `bench.${runTag}.raw`;
  await onChannel(connection, (ch) => ch.assertExchange(rawExchange, 'topic', { durable: true }));
  onCleanup(`exchange ${rawExchange}`, () => onChannel(connection, (ch) => ch.deleteExchange(rawExchange)));
  const rawArguments = { ...route.queueArguments, 'x-dead-letter-routing-key': `${rawQueue}.dlq` };
  await onChannel(connection, (ch) => ch.assertQueue(rawQueue, { durable: true, arguments: rawArguments }));
  onCleanup(`queue ${rawQueue}`, () => onChannel(connection, (ch) => ch.deleteQueue(rawQueue)));
  await onChannel(connection, (ch) => ch.bindQueue(rawQueue, rawExchange, bindingPattern));
  const raw = async (which) => {
    log(`(e) raw confirm-publishing the same ${OUTBOX_N} bodies (${which} (d))…`);
    const run = await rawPublish(connection, rawExchange, bodies);
    await expectQueueCount(connection, rawQueue, OUTBOX_N, '(e)');
    await onChannel(connection, (ch) => ch.purgeQueue(rawQueue));
    log(`(e) raw ${which} (d): ${run.seconds.toFixed(2)} s → ${Math.round(run.msgPerSecond)} msg/s`);
    return run;
  };
  const before = await raw('before');

  // 2. Bind again and publish the pending outbox through an import of one unchanged product.
  for (const route of productRoutes) await onChannel(connection, (ch) => ch.bindQueue(route.queue, route.exchange, bindingPattern));
  log(`(d) publishing ${OUTBOX_N} pending outbox rows (${Math.round(bodyBytes)} B average) through \`exchange import product <one unchanged product>\`…`);
  // BENCH_CLI_NODE_ARGS: node flags for this run only (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const nodeArgs = (process.env.BENCH_CLI_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const publish = await runNode([...nodeArgs, bin, 'import', 'product', data.one.file, '--json'], { env, cwd: tmpDir, timeoutMs: PUBLISH_TIMEOUT_MS, label: '(d) exchange import (publish)' });
  const summary = summaryOf(publish, '(d) exchange import (publish)');
  expectExit(publish, '(d) exchange import (publish)');
  if (summary.read !== 1 || summary.written !== 0 || summary.published !== OUTBOX_N) throw new Error(`(d) expected read=1 written=0 published=${OUTBOX_N}: ${JSON.stringify(summary)}`);
  const pending = (() => {
    const check = new Database(dbFile, { readonly: true, fileMustExist: true });
    try { return Number(check.prepare('SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL').get().n); } finally { check.close(); }
  })();
  if (pending !== 0) throw new Error(`(d) ${pending} outbox rows still pending after the publish run`);
  for (const route of productRoutes) await expectQueueCount(connection, route.queue, OUTBOX_N, '(d)');
  for (const route of productRoutes) await onChannel(connection, (ch) => ch.purgeQueue(route.queue));
  const d = {
    messages: OUTBOX_N, bodyBytes, seconds: publish.seconds, jobSeconds: summary.durationMs / 1000,
    msgPerSecond: OUTBOX_N / (summary.durationMs / 1000), wallMsgPerSecond: OUTBOX_N / publish.seconds,
    peakRssMb: publish.peakRssMb, cpuSeconds: publish.cpuSeconds, summary,
    load: { seconds: load.seconds, jobSeconds: loadSummary.durationMs / 1000, peakRssMb: load.peakRssMb, summary: loadSummary },
    verified: `published=${summary.published}; outbox pending 0; ${productRoutes.map((r) => r.queue).join(', ')} held ${OUTBOX_N}`,
  };

  const after = await raw('after');
  const seconds = (before.seconds + after.seconds) / 2;
  const e = {
    messages: OUTBOX_N, seconds, msgPerSecond: OUTBOX_N / seconds, cpuSeconds: (before.cpuSeconds + after.cpuSeconds) / 2, runs: [before, after],
    verified: `${OUTBOX_N} confirmed and none returned, twice; ${rawQueue} held ${OUTBOX_N} each time`,
  };
  return { d, e };
}

/** Publishes the bodies in order through a confirm channel, at most PUBLISH_WINDOW unconfirmed; resolves when all are confirmed. */
async function rawPublish(connection, exchange, bodies) {
  // Routing key and message id as envelopeMessage() derives them, worked out before the clock starts.
  const messages = bodies.map((body) => {
    const envelope = JSON.parse(body.toString());
    return { body, routingKey: `${envelope.type}.${envelope.op}`, messageId: `${envelope.type}:${envelope.id}:${envelope.version}`, type: envelope.type };
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const channel = await connection.createConfirmChannel();
  const toPublish = (function* () {
    // The properties envelopeMessage() gives an outbox row, and mandatory as the tool publishes.
    for (const { body, routingKey, messageId, type } of messages) {
      yield {
        exchange, routingKey, body,
        options: { contentType: 'application/json', persistent: true, messageId, timestamp: Math.floor(Date.now() / 1000), type, appId: 'exchange', mandatory: true },
      };
    }
  })();
  const { nacked, returned } = await publishConfirmed(channel, toPublish, { window: PUBLISH_WINDOW, timeoutMs: PUBLISH_TIMEOUT_MS, label: '(e) raw confirm publish' });
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuOf(process.cpuUsage(cpu0));
  await channel.close().catch(() => undefined);
  if (nacked > 0 || returned > 0) throw new Error(`(e): ${nacked} nacked, ${returned} returned`);
  return { messages: bodies.length, seconds, msgPerSecond: bodies.length / seconds, cpuSeconds };
}

// ---------------------------------------------------------------- report

const fmt = (n, digits = 1) => (n === undefined || n === null || Number.isNaN(n) ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));

function table(results, data) {
  const headers = ['scenario', 'size', 'seconds', 'rate', 'peak RSS'];
  const row = (label, r, size, rate) => (!r || r.error ? [label, size, '-', r?.error ? 'FAILED' : '-', '-'] : [label, size, fmt(r.jobSeconds ?? r.seconds, 2), rate(r), r.peakRssMb ? `${Math.round(r.peakRssMb)} MiB` : '-']);
  const sizeOf = (catalog) => (catalog ? `${fmt(mib(catalog.bytes), 0)} MiB, ${catalog.products.toLocaleString('en-US')} products` : '-');
  const rows = [
    row(`(a) exchange import --dry-run, ${IMPORT_MB} MiB file`, results.a, sizeOf(data.big), (r) => `${fmt(r.mibPerSecond)} MiB/s`),
    row(`(b) exchange import --dry-run, ${PARSE_MB} MiB file`, results.b, sizeOf(data.parse), (r) => `${fmt(r.mibPerSecond)} MiB/s`),
    row(`(c) fast-xml-parser whole document, ${PARSE_MB} MiB file`, results.c, sizeOf(data.parse), (r) => `${fmt(r.mibPerSecond)} MiB/s`),
    row('(d) exchange import: publish the pending outbox', results.d, `${OUTBOX_N.toLocaleString('en-US')} msgs${results.d?.bodyBytes ? ` × ${Math.round(results.d.bodyBytes)} B` : ''}`, (r) => `${fmt(r.msgPerSecond, 0)} msg/s`),
    row(`(e) raw amqplib confirm publish (window ${PUBLISH_WINDOW}, mean of 2)`, results.e, `${OUTBOX_N.toLocaleString('en-US')} msgs`, (r) => `${fmt(r.msgPerSecond, 0)} msg/s`),
  ];
  return formatTable(headers, rows);
}

function targets(results) {
  const ok = (s) => results[s] && !results[s].error;
  const out = [];
  if (ok('a') && ok('c')) {
    const ratio = results.a.mibPerSecond / results.c.mibPerSecond;
    out.push({ name: `(a) import --dry-run speed ≥ ${TARGETS.importVsParse} × (c) whole-document parse speed`, met: ratio >= TARGETS.importVsParse, ratio, text: `${ratio.toFixed(2)} ×` });
  } else out.push({ name: `(a) import --dry-run speed ≥ ${TARGETS.importVsParse} × (c) whole-document parse speed`, met: null, text: 'not measured' });
  if (ok('a') && results.a.peakRssMb) {
    out.push({ name: `(a) peak RSS ≤ ${TARGETS.peakRssMb} MiB on the ${IMPORT_MB} MiB file`, met: results.a.peakRssMb <= TARGETS.peakRssMb, value: results.a.peakRssMb, text: `${Math.round(results.a.peakRssMb)} MiB` });
  } else out.push({ name: `(a) peak RSS ≤ ${TARGETS.peakRssMb} MiB on the ${IMPORT_MB} MiB file`, met: null, text: 'not measured' });
  if (ok('d') && ok('e')) {
    const ratio = results.d.msgPerSecond / results.e.msgPerSecond;
    out.push({ name: `(d) outbox publish ≥ ${TARGETS.publishVsRaw} × (e) raw confirm publish`, met: ratio >= TARGETS.publishVsRaw, ratio, text: `${ratio.toFixed(2)} ×` });
  } else out.push({ name: `(d) outbox publish ≥ ${TARGETS.publishVsRaw} × (e) raw confirm publish`, met: null, text: 'not measured' });
  const width = Math.max(...out.map((t) => t.name.length));
  for (const t of out) t.line = `target ${t.name.padEnd(width)}  ${t.text.padStart(9)}  → ${t.met === null ? 'NOT MEASURED' : t.met ? 'MET' : 'NOT MET'}`;
  return out;
}

// ---------------------------------------------------------------- main

async function main() {
  const started = performance.now();
  requireDist('npm run bench:import');
  tmpDir = makeTempDir('import-bench');
  const { connection, serverVersion } = await connect();
  log(`import ${IMPORT_MB} MiB, parse ${PARSE_MB} MiB, outbox ${OUTBOX_N}, RabbitMQ ${serverVersion}, data in ${DATA_DIR}, run ${runTag}`);

  const generationStarted = performance.now();
  const data = await catalogs();
  const generationSeconds = (performance.now() - generationStarted) / 1000;

  const results = {};
  const steps = [
    ['a', `(a) exchange import --dry-run on ${data.big ? path.basename(data.big.file) : '-'}`, () => dryRunImport(data.big, 'a')],
    ['b', `(b) exchange import --dry-run on ${data.parse ? path.basename(data.parse.file) : '-'}`, () => dryRunImport(data.parse, 'b')],
    ['c', `(c) fast-xml-parser whole document on ${data.parse ? path.basename(data.parse.file) : '-'}`, () => wholeDocumentParse(data.parse)],
  ].filter(([key]) => SCENARIOS.includes(key));
  for (const [key, label, fn] of steps) {
    log(`${label}…`);
    try {
      results[key] = await fn();
      const r = results[key];
      log(`${label}: ${r.jobSeconds.toFixed(2)} s (wall ${r.seconds.toFixed(2)} s), ${r.mibPerSecond.toFixed(1)} MiB/s, peak RSS ${Math.round(r.peakRssMb ?? 0)} MiB (${r.verified})`);
    } catch (error) {
      results[key] = { error: error.message };
      log(`${label}: FAILED: ${error.message}`);
    }
  }
  if (wants('d', 'e')) try {
    const { d, e } = await outboxPublish(connection, data);
    results.d = d;
    results.e = e;
    log(`(d) publish: ${d.jobSeconds.toFixed(2)} s (wall ${d.seconds.toFixed(2)} s) → ${Math.round(d.msgPerSecond)} msg/s (${d.verified})`);
    log(`(e) raw: mean ${e.seconds.toFixed(2)} s → ${Math.round(e.msgPerSecond)} msg/s (${e.verified})`);
  } catch (error) {
    results.d ??= { error: error.message };
    results.e ??= { error: error.message };
    log(`(d)/(e) FAILED: ${error.message}`);
  }

  const tgt = targets(results);
  const a = results.a && !results.a.error ? results.a : undefined;
  const d = results.d && !results.d.error ? results.d : undefined;
  const out = [
    '',
    `import benchmark: ${data.big ? `${IMPORT_MB} MiB import.xml (${data.big.products.toLocaleString('en-US')} products, ${Math.round(data.big.bytes / data.big.products)} B each)` : 'no import.xml'}, ${OUTBOX_N.toLocaleString('en-US')} outbox rows, RabbitMQ ${serverVersion}, Node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    table(results, data),
    '',
    ...tgt.map((t) => t.line),
    '',
    '(a)/(b) seconds = the summary\'s durationMs (the job, without Node start-up); (c) = readFileSync + parse inside the child;',
    '        peak RSS = max resident set of the whole process (/usr/bin/time -v).',
  ];
  if (a) out.push(`        (a) wall clock from spawn to exit: ${a.seconds.toFixed(2)} s = ${a.wallMibPerSecond.toFixed(1)} MiB/s; CPU ${fmt(a.cpuSeconds, 1)} s = ${fmt((a.cpuSeconds * 1e6) / a.products, 0)} µs/product`);
  out.push(
    '(d) seconds = durationMs of `exchange import product <one unchanged product>` that publishes the pending outbox',
    '        (connect, store open, topology check, one-product read included); (e) = first publish to last confirm, channel open included.',
  );
  if (d) {
    out.push(`        (d) wall clock ${d.seconds.toFixed(2)} s = ${fmt(d.wallMsgPerSecond, 0)} msg/s; CPU of the exchange process ${fmt(d.cpuSeconds, 2)} s = ${fmt((d.cpuSeconds * 1e6) / OUTBOX_N, 0)} µs/msg`);
    out.push(`        making the outbox (import of ${OUTBOX_N.toLocaleString('en-US')} small products into SQLite, queue unbound, exit 69): ${d.load.jobSeconds.toFixed(2)} s, peak RSS ${Math.round(d.load.peakRssMb ?? 0)} MiB`);
  }
  if (results.e && !results.e.error) {
    const [before, after] = results.e.runs;
    out.push(`        (e) = mean of two runs, before (d): ${before.seconds.toFixed(2)} s = ${fmt(before.msgPerSecond, 0)} msg/s, after (d): ${after.seconds.toFixed(2)} s = ${fmt(after.msgPerSecond, 0)} msg/s;`);
    out.push(`            CPU of the bench process while publishing ${fmt(results.e.cpuSeconds, 2)} s = ${fmt((results.e.cpuSeconds * 1e6) / OUTBOX_N, 0)} µs/msg`);
  }
  process.stdout.write(`${out.join('\n')}\n`);

  const describe = (catalog) => catalog && ({ file: catalog.file, bytes: catalog.bytes, products: catalog.products, bytesPerProduct: catalog.bytes / catalog.products, reused: catalog.reused });
  const json = {
    date: new Date().toISOString(),
    runTag,
    settings: { importMb: IMPORT_MB, parseMb: PARSE_MB, outboxN: OUTBOX_N, publishWindow: PUBLISH_WINDOW, queueType: 'quorum', targets: TARGETS },
    environment: environment(serverVersion),
    data: { generationSeconds, big: describe(data.big), parse: describe(data.parse), outbox: describe(data.outbox), one: describe(data.one) },
    results,
    targets: tgt.map(({ name, met, ratio, value }) => ({ name, met, ratio: ratio ?? null, value: value ?? null })),
    totalSeconds: (performance.now() - started) / 1000,
  };
  const file = writeResults('import', json);
  process.stdout.write(`\nresults: ${path.relative(root, file)}\n`);
  return SCENARIOS.some((s) => !results[s] || results[s].error) ? 1 : 0;
}

await runMain(main, TOTAL_TIMEOUT_MS);
