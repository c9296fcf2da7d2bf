#!/usr/bin/env node
// Drain benchmark (issue 2, point 11). Run with `npm run bench` (builds first).
//
//   (a) raw amqplib basic.consume + multiple-ack every batch-size messages, quorum queue
//   (b) basic.get + ack loop (one get, one ack per message), quorum queue
//   (c) `exchange user` (the built CLI, spawned) into a fresh SQLite file, synchronous=FULL (the default)
//   (d) `exchange user` into a fresh PostgreSQL schema (search_path via the URL's `options`)
//   (e) as (c) with recordStore.sqliteSynchronous: normal (a config file): what FULL's durability costs
//   (f) the floor for SQLite, in this process: consume (same prefetch), JSON.parse each body, one version-guarded
//       upsert per message into a fresh SQLite file (better-sqlite3, WAL, synchronous=FULL as the store's default)
//       in one transaction per batch-size messages, then one multiple-ack: the least a drain must do
//   (g) the floor for PostgreSQL, in this process: consume, JSON.parse, one multi-row version-guarded upsert per
//       batch-size messages (its own implicit transaction), then one multiple-ack
//   (c) is compared with (f) and (d) with (g): the drain is timed as a user sees it (spawn to exit), the floor
//   from basic.consume to cancel-ok after the last ack, the table created before the clock starts.
//
// Every scenario gets its own freshly declared queue, filled with N messages through a confirm channel
// BEFORE the clock starts; only the draining is timed. Env:
//   BENCH_N (100000)  BENCH_PREFETCH (500)  BENCH_BATCH_SIZE (200)  BENCH_IDLE_MS (unset)
//   BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672)  BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test)
//   BENCH_RAW_ACK (batch | each; how (a) acks)  BENCH_SCENARIOS (a,b,c,d,e,f,g)  BENCH_TIMEOUT_S (whole run)
//   BENCH_CLI_NODE_ARGS: node flags for the timed `exchange user` only (--cpu-prof --cpu-prof-dir=/tmp/prof)
//   BENCH_IDLE_MS unset: the drain runs without --idle-ms (its default: stop once the queue is known to be empty)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  CLI_SHORT_TIMEOUT_MS, STEP_TIMEOUT_MS, cliEnv, connect, cpuOf, environment, fail, formatTable, intEnv, lastSummary, log,
  bin, makeTempDir, messageCount, onChannel, onCleanup, pgSchema, publishConfirmed, requireDist, root, runCli, runMain, runNode, runTag, setScriptName, sleep,
  tenantTopology, withTimeout, writeResults,
} from './support.mjs';

setScriptName('drain-bench');

const N = intEnv('BENCH_N', 100_000);
const PREFETCH = intEnv('BENCH_PREFETCH', 500);
const BATCH = intEnv('BENCH_BATCH_SIZE', 200);
// Unset: no --idle-ms flag, the drain's default (it stops as soon as the queue is known to be empty).
const IDLE_MS = process.env.BENCH_IDLE_MS ? intEnv('BENCH_IDLE_MS', 0) : undefined;
const BODY_BYTES = 350;
const PUBLISH_WINDOW = 2000;
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RAW_ACK = process.env.BENCH_RAW_ACK ?? 'batch';
if (!['batch', 'each'].includes(RAW_ACK)) fail('BENCH_RAW_ACK must be batch or each');
// With multiple-ack every k messages, k must not exceed the prefetch or the window never reopens.
const RAW_ACK_EVERY = Math.min(BATCH, PREFETCH);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'a,b,f,c,g,d,e').split(',').map((s) => s.trim()).filter(Boolean);
for (const s of SCENARIOS) if (!['a', 'b', 'c', 'd', 'e', 'f', 'g'].includes(s)) fail(`unknown scenario "${s}" in BENCH_SCENARIOS`);
/** Which floor each drain is held against. */
const FLOOR_OF = { c: 'f', e: 'f', d: 'g' };

// Time limits: generous floors, scaled with N (a 100k run is a few minutes in all).
const FILL_TIMEOUT_MS = Math.max(60_000, N * 2);           // 100k → 200 s
const DRAIN_TIMEOUT_MS = Math.max(60_000, N * 3);          // 100k → 300 s
const TOTAL_TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', Math.max(600, Math.ceil(N / 100) + 300)) * 1000;

let tmpDir;

// ---------------------------------------------------------------- helpers

/** A valid user envelope (DESIGN §6) of exactly BODY_BYTES bytes; ids are unique and of fixed length. */
function makeBody(i) {
  const seq = String(i).padStart(12, '0');
  const id = `${runTag.slice(0, 8).padEnd(8, '0')}-0000-4000-8000-${seq}`;
  const version = new Date(Date.UTC(2026, 10, 22, 10, 15, 0) + i).toISOString();
  const data = {
    name: `ООО «Бенч ${i}»`,
    inn: String(7700000000 + (i % 100000000)).padStart(10, '0'),
    kpp: '770101001',
    email: `user${i}@bench.example`,
    phone: '+7 (495) 000-00-00',
    address: '',
  };
  const envelope = { type: 'user', op: 'upsert', id, version, source: 'bench', occurredAt: '2026-11-22T10:15:03.120Z', data };
  const street = 'г. Москва, ул. Тестовая, д. 1, ';
  const missing = BODY_BYTES - Buffer.byteLength(JSON.stringify(envelope));
  data.address = missing >= Buffer.byteLength(street) ? street + 'x'.repeat(missing - Buffer.byteLength(street)) : 'x'.repeat(Math.max(0, missing));
  return { id, version, body: Buffer.from(JSON.stringify(envelope)) };
}

/** Publishes N bodies through a confirm channel with at most PUBLISH_WINDOW unconfirmed; resolves when all are confirmed. */
async function fill(connection, exchange, routingKey, expectQueue) {
  const started = performance.now();
  const channel = await connection.createConfirmChannel();
  const messages = (function* () {
    for (let i = 1; i <= N; i++) {
      const { id, version, body } = makeBody(i);
      yield { exchange, routingKey, body, options: { persistent: true, contentType: 'application/json', messageId: `user:${id}:${version}`, mandatory: true } };
    }
  })();
  const { nacked, returned } = await publishConfirmed(channel, messages, {
    window: PUBLISH_WINDOW, resumeBelow: PUBLISH_WINDOW / 2, timeoutMs: FILL_TIMEOUT_MS, label: `filling ${expectQueue}`,
  });
  await channel.close().catch(() => undefined);
  if (nacked > 0 || returned > 0) throw new Error(`filling ${expectQueue}: ${nacked} nacked, ${returned} returned`);
  // Confirms mean the quorum queue has them; wait until the count shows all N before the clock starts.
  let count = -1;
  for (let tries = 0; tries < 100; tries++) {
    count = await messageCount(connection, expectQueue);
    if (count === N) break;
    await sleep(100);
  }
  if (count !== N) throw new Error(`filling ${expectQueue}: queue holds ${count} messages, expected ${N}`);
  return (performance.now() - started) / 1000;
}

async function declareBenchQueue(connection, name) {
  await onChannel(connection, (ch) => ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
  onCleanup(`queue ${name}`, () => onChannel(connection, (ch) => ch.deleteQueue(name)));
}

function expectExit(result, what) {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code ?? result.signal}:\n${result.stderr.trim()}\n${result.stdout.trim()}`);
}

// ---------------------------------------------------------------- scenarios

async function rawConsume(connection) {
  const queue = `bench.${runTag}.raw`;
  await declareBenchQueue(connection, queue);
  const fillSeconds = await fill(connection, '', queue, queue);
  const channel = await connection.createChannel();
  let brokerError;
  channel.on('error', (error) => { brokerError = error; });
  await channel.prefetch(PREFETCH);
  let received = 0;
  let consumerTag;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const all = new Promise((resolve, reject) => {
    channel.consume(queue, (message) => {
      if (message === null) { reject(new Error('consumer cancelled by the broker')); return; }
      received++;
      if (RAW_ACK === 'each') channel.ack(message);
      else if (received % RAW_ACK_EVERY === 0 || received === N) channel.ack(message, true);
      if (received === N) resolve();
    }, { noAck: false }).then((reply) => { consumerTag = reply.consumerTag; }, reject);
  });
  await withTimeout(all, DRAIN_TIMEOUT_MS, '(a) raw consume');
  // cancel-ok comes after the broker has handled every frame sent before it, the last ack included.
  await withTimeout(channel.cancel(consumerTag), STEP_TIMEOUT_MS, '(a) cancel');
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuOf(process.cpuUsage(cpu0));
  await channel.close();
  if (brokerError) throw brokerError;
  const left = await messageCount(connection, queue);
  if (left !== 0) throw new Error(`(a): ${left} messages left in ${queue}`);
  return { seconds, cpuSeconds, fillSeconds, received, verified: `queue empty; ${received} consumed` };
}

async function getLoop(connection) {
  const queue = `bench.${runTag}.get`;
  await declareBenchQueue(connection, queue);
  const fillSeconds = await fill(connection, '', queue, queue);
  const channel = await connection.createChannel();
  let brokerError;
  channel.on('error', (error) => { brokerError = error; });
  await channel.prefetch(PREFETCH); // no effect on basic.get; set for symmetry
  let received = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const loop = (async () => {
    let emptySince;
    while (received < N) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) {
        emptySince ??= performance.now();
        if (performance.now() - emptySince > 5000) throw new Error(`(b): queue empty after ${received} of ${N}`);
        continue;
      }
      emptySince = undefined;
      channel.ack(message);
      received++;
    }
    await channel.checkQueue(queue); // a round trip after the last ack
  })();
  await withTimeout(loop, DRAIN_TIMEOUT_MS, '(b) basic.get loop');
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuOf(process.cpuUsage(cpu0));
  await channel.close();
  if (brokerError) throw brokerError;
  const left = await messageCount(connection, queue);
  if (left !== 0) throw new Error(`(b): ${left} messages left in ${queue}`);
  return { seconds, cpuSeconds, fillSeconds, received, verified: `queue empty; ${received} got` };
}

/**
 * Consumes the bench queue with the drain's prefetch and hands every batch-size messages (and the last, short
 * one) to `write(bodies)`, one batch at a time; acks each batch with one multiple-ack after its write resolved.
 * Timed from basic.consume to cancel-ok (which follows the broker's handling of the last ack).
 */
async function consumeInBatches(connection, queue, label, write) {
  const channel = await connection.createChannel();
  let brokerError;
  channel.on('error', (error) => { brokerError = error; });
  await channel.prefetch(PREFETCH);
  let received = 0;
  let consumerTag;
  let pending = [];
  let writing = false;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const all = new Promise((resolve, reject) => {
    // Batches are written one after another; what arrives meanwhile waits for the next batch, as in a drain.
    const pump = async () => {
      if (writing) return;
      writing = true;
      try {
        while (pending.length >= BATCH || (pending.length > 0 && received === N)) {
          const batch = pending.length > BATCH ? pending.splice(0, BATCH) : pending;
          if (batch === pending) pending = [];
          await write(batch.map((m) => m.content));
          channel.ack(batch.at(-1), true);
          if (batch.at(-1).fields.deliveryTag === N) resolve();
        }
      } catch (error) {
        reject(error);
      } finally {
        writing = false;
      }
    };
    channel.consume(queue, (message) => {
      if (message === null) { reject(new Error('consumer cancelled by the broker')); return; }
      received++;
      pending.push(message);
      if (pending.length >= BATCH || received === N) void pump();
    }, { noAck: false }).then((reply) => { consumerTag = reply.consumerTag; }, reject);
  });
  await withTimeout(all, DRAIN_TIMEOUT_MS, label);
  await withTimeout(channel.cancel(consumerTag), STEP_TIMEOUT_MS, `${label}: cancel`);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuOf(process.cpuUsage(cpu0));
  await channel.close();
  if (brokerError) throw brokerError;
  const left = await messageCount(connection, queue);
  if (left !== 0) throw new Error(`${label}: ${left} messages left in ${queue}`);
  return { seconds, cpuSeconds, received };
}

/** The record the floors store: the parsed envelope's key, version and data (serialized, as a store must). */
function floorRow(body) {
  const envelope = JSON.parse(body.toString('utf8'));
  return [envelope.type, envelope.id, envelope.version, JSON.stringify(envelope.data)];
}

async function floorSqlite(connection) {
  const queue = `bench.${runTag}.floor-sqlite`;
  await declareBenchQueue(connection, queue);
  const fillSeconds = await fill(connection, '', queue, queue);
  const file = path.join(tmpDir, `floor-${runTag}.db`);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE records (type TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id))');
    const upsert = db.prepare(`INSERT INTO records (type, id, version, data) VALUES (?, ?, ?, ?)
      ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version >= records.version`);
    const writeBatch = db.transaction((bodies) => { for (const body of bodies) upsert.run(floorRow(body)); });
    const r = await consumeInBatches(connection, queue, '(f) floor SQLite', async (bodies) => writeBatch(bodies));
    const count = db.prepare('SELECT COUNT(*) AS n FROM records').get().n;
    if (count !== N) throw new Error(`(f) ${count} rows stored, expected ${N}`);
    return { ...r, fillSeconds, verified: `queue empty; ${count} rows` };
  } finally {
    db.close();
  }
}

async function floorPostgres(connection) {
  const queue = `bench.${runTag}.floor-pg`;
  await declareBenchQueue(connection, queue);
  const fillSeconds = await fill(connection, '', queue, queue);
  const schema = `bench_floor_${runTag}`;
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 8000 });
  await withTimeout(client.connect(), STEP_TIMEOUT_MS, 'connect to PostgreSQL');
  onCleanup(`pg schema ${schema}`, async () => {
    try { await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } finally { await client.end(); }
  });
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.records (type TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL, data JSONB, PRIMARY KEY (type, id))`);
  const sql = `INSERT INTO ${schema}.records (type, id, version, data)
    SELECT t.type, t.id, t.version, t.data::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(type, id, version, data)
    ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, data = excluded.data WHERE excluded.version >= records.version`;
  const r = await consumeInBatches(connection, queue, '(g) floor PostgreSQL', async (bodies) => {
    const columns = [[], [], [], []];
    for (const body of bodies) floorRow(body).forEach((value, i) => columns[i].push(value));
    await client.query(sql, columns);
  });
  const count = Number((await client.query(`SELECT COUNT(*) AS n FROM ${schema}.records`)).rows[0].n);
  if (count !== N) throw new Error(`(g) ${count} rows stored, expected ${N}`);
  return { ...r, fillSeconds, verified: `queue empty; ${count} rows` };
}

async function cliDrain(connection, engine, letter, { sqliteSynchronous } = {}) {
  const tenant = `bench${letter}_${runTag}`;
  let recordStore;
  if (engine === 'sqlite') {
    recordStore = `sqlite:${path.join(tmpDir, `${tenant}.db`)}`;
  } else {
    recordStore = await pgSchema(PG_URL, `bench_${runTag}`);
  }
  const env = cliEnv(tenant, recordStore);
  if (sqliteSynchronous) {
    // The setting as an operator would choose it: a config file (the URL and tenant still come from the environment).
    const configFile = path.join(tmpDir, `${tenant}.exchangerc.json`);
    fs.writeFileSync(configFile, JSON.stringify({ recordStore: { sqliteSynchronous } }));
    env.EXCHANGE_CONFIG = configFile;
  }

  // Every queue and exchange `setup` declares for this tenant, computed the way the CLI computes them.
  const { config, topology } = await tenantTopology(connection, tenant);
  const setup = await runCli(['setup'], { env, cwd: tmpDir, timeoutMs: CLI_SHORT_TIMEOUT_MS, label: `(${letter}) exchange setup` });
  expectExit(setup, 'exchange setup');

  const [route] = topology.routesOf(config, 'user');
  const fillSeconds = await fill(connection, route.exchange, 'user.upsert', route.queue);

  const args = ['user', '--limit', '0', '--prefetch', String(PREFETCH), '--batch-size', String(BATCH), ...(IDLE_MS ? ['--idle-ms', String(IDLE_MS)] : []), '--json'];
  // BENCH_CLI_NODE_ARGS: node flags for the timed drain only (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const nodeArgs = (process.env.BENCH_CLI_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const run = await runNode([...nodeArgs, bin, ...args], { env, cwd: tmpDir, timeoutMs: DRAIN_TIMEOUT_MS, label: `(${letter}) exchange user` });
  const summary = lastSummary(run.stdout);
  if (!summary) throw new Error(`(${letter}) no JSON summary as last stdout line (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  expectExit(run, `(${letter}) exchange user`);
  if (summary.written !== N) throw new Error(`(${letter}) summary says written=${summary.written}, expected ${N}: ${JSON.stringify(summary)}`);

  const left = {};
  for (const q of [route.queue, route.retryQueue, route.deadLetterQueue]) left[q] = await messageCount(connection, q);
  if (Object.values(left).some((c) => c !== 0)) throw new Error(`(${letter}) messages left: ${JSON.stringify(left)}`);

  const counted = await runCli(['records', 'count', 'user', '--json'], { env, cwd: tmpDir, timeoutMs: CLI_SHORT_TIMEOUT_MS, label: `(${letter}) records count` });
  expectExit(counted, 'exchange records count user');
  const count = JSON.parse(counted.stdout.trim().split('\n').at(-1)).count;
  if (count !== N) throw new Error(`(${letter}) records count user = ${count}, expected ${N}`);

  return {
    seconds: run.seconds,
    fillSeconds,
    received: summary.read,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    summaryDurationMs: summary.durationMs,
    summary,
    verified: `queues empty; written=${summary.written}; records count=${count}`,
  };
}

// ---------------------------------------------------------------- main

const labels = {
  a: `(a) raw consume + ack (multiple every ${RAW_ACK_EVERY})`,
  b: '(b) basic.get + ack loop',
  c: '(c) exchange user → SQLite (FULL)',
  d: '(d) exchange user → PostgreSQL',
  e: '(e) exchange user → SQLite (NORMAL)',
  f: '(f) floor: consume + parse + upsert → SQLite (FULL)',
  g: '(g) floor: consume + parse + upsert → PostgreSQL',
};
if (RAW_ACK === 'each') labels.a = '(a) raw consume + ack each';

function table(results) {
  const base = results.a?.seconds ? N / results.a.seconds : undefined;
  const headers = ['scenario', 'messages', 'seconds', 'msg/s', 'ratio to (a)', 'ratio to floor', 'peak RSS'];
  const rows = SCENARIOS.map((s) => {
    const r = results[s];
    if (!r || r.error) return [labels[s], String(N), '-', '-', '-', '-', r?.error ? 'FAILED' : '-'];
    const rate = N / r.seconds;
    const floor = results[FLOOR_OF[s]];
    const toFloor = floor && !floor.error ? `${(floor.seconds / r.seconds).toFixed(2)} × (${FLOOR_OF[s]})` : '-';
    return [
      labels[s], String(N), r.seconds.toFixed(2), Math.round(rate).toLocaleString('en-US'),
      base ? (rate / base).toFixed(2) : '-', toFloor, r.peakRssMb ? `${Math.round(r.peakRssMb)} MB` : '',
    ];
  });
  return formatTable(headers, rows);
}

function targets(results) {
  const rate = (s) => (results[s] && !results[s].error ? N / results[s].seconds : undefined);
  const a = rate('a');
  const b = rate('b');
  const c = rate('c');
  const check = (lhs, factor, rhs, name) => {
    if (lhs === undefined || rhs === undefined) return { name, met: null, text: `${name}: not measured` };
    const ratio = lhs / rhs;
    const met = ratio >= factor;
    return { name, met, ratio, text: `${name}: ${ratio.toFixed(2)} × → ${met ? 'MET' : 'NOT MET'}` };
  };
  return [
    check(c, 0.8, rate('f'), 'target (c) ≥ 0.8 × the SQLite floor (f)'),
    check(rate('d'), 0.8, rate('g'), 'target (d) ≥ 0.8 × the PostgreSQL floor (g)'),
    check(c, 0.8, a, 'target (c) ≥ 0.8 × (a)'), check(c, 5, b, 'target (c) ≥ 5 × (b)'),
  ];
}

async function main() {
  const started = performance.now();
  requireDist('npm run bench');
  tmpDir = makeTempDir('drain-bench');
  const { connection, serverVersion } = await connect();
  log(`N=${N}, ${BODY_BYTES}-byte bodies, prefetch ${PREFETCH}, batch size ${BATCH}, idle-ms ${IDLE_MS ?? 'default'}, RabbitMQ ${serverVersion}, run ${runTag}`);

  const results = {};
  const run = {
    a: () => rawConsume(connection),
    b: () => getLoop(connection),
    c: () => cliDrain(connection, 'sqlite', 'c'),
    d: () => cliDrain(connection, 'postgres', 'd'),
    e: () => cliDrain(connection, 'sqlite', 'e', { sqliteSynchronous: 'normal' }),
    f: () => floorSqlite(connection),
    g: () => floorPostgres(connection),
  };
  for (const s of SCENARIOS) {
    log(`${labels[s]}: filling ${N} and draining…`);
    try {
      results[s] = await run[s]();
      log(`${labels[s]}: filled in ${results[s].fillSeconds.toFixed(1)} s, drained in ${results[s].seconds.toFixed(2)} s (${results[s].verified})`);
    } catch (error) {
      results[s] = { error: error.message };
      log(`${labels[s]}: FAILED: ${error.message}`);
    }
  }

  const tgt = targets(results);
  const out = [
    '',
    `drain benchmark: N=${N} messages of ${BODY_BYTES} bytes, quorum queues, prefetch ${PREFETCH}, batch size ${BATCH}, RabbitMQ ${serverVersion}, Node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    table(results),
    '',
    ...tgt.map((t) => t.text),
    '',
    `(a) acks ${RAW_ACK === 'each' ? 'every message' : `with multiple=true every ${RAW_ACK_EVERY} messages`}; (b) acks every message (prefetch does not apply to basic.get);`,
    `(c)/(d)/(e) seconds = wall clock of the spawned \`exchange user --limit 0 --prefetch ${PREFETCH} --batch-size ${BATCH}${IDLE_MS ? ` --idle-ms ${IDLE_MS}` : ''} --json\`, from spawn to exit`,
    `        (includes Node start-up, connect, migrations check${IDLE_MS ? ` and the final ${IDLE_MS} ms idle wait` : ' and the end of the queue'}); peak RSS of that process.`,
    `(f)/(g) seconds = basic.consume to cancel-ok in this process (connection, table and prepared statement made before the clock).`,
  ];
  for (const s of ['c', 'd', 'e']) {
    const r = results[s];
    if (r && !r.error) out.push(`        ${labels[s]}: summary durationMs ${r.summaryDurationMs} → ${Math.round(N / ((r.summaryDurationMs - (IDLE_MS ?? 0)) / 1000)).toLocaleString('en-US')} msg/s for the job alone${IDLE_MS ? ' without the idle wait' : ''}`);
  }
  if (results.c && !results.c.error && results.e && !results.e.error) {
    out.push(`SQLite synchronous: FULL (c, the default) ${Math.round(N / results.c.seconds).toLocaleString('en-US')} msg/s in ${results.c.seconds.toFixed(2)} s; `
      + `NORMAL (e) ${Math.round(N / results.e.seconds).toLocaleString('en-US')} msg/s in ${results.e.seconds.toFixed(2)} s; FULL drains at ${(results.e.seconds / results.c.seconds).toFixed(2)} × NORMAL's rate`);
  }
  const cpuNotes = SCENARIOS.filter((s) => results[s] && !results[s].error && results[s].cpuSeconds !== undefined)
    .map((s) => `${s}: ${results[s].cpuSeconds.toFixed(2)} s = ${Math.round((results[s].cpuSeconds * 1e6) / N)} µs/msg`);
  if (cpuNotes.length > 0) out.push(`CPU (user+sys) of the draining client — ${cpuNotes.join('; ')}`, `        ((a)/(b): the bench process while draining; (c)/(d)/(e): the whole exchange process; (f)/(g): the bench process while draining, the database server not included)`);
  process.stdout.write(`${out.join('\n')}\n`);

  const json = {
    date: new Date().toISOString(),
    runTag,
    settings: { n: N, bodyBytes: BODY_BYTES, prefetch: PREFETCH, batchSize: BATCH, idleMs: IDLE_MS ?? null, rawAck: RAW_ACK, rawAckEvery: RAW_ACK === 'each' ? 1 : RAW_ACK_EVERY, queueType: 'quorum' },
    environment: environment(serverVersion),
    results: Object.fromEntries(SCENARIOS.map((s) => {
      const r = results[s];
      if (r.error) return [s, { label: labels[s], error: r.error }];
      const { summary, ...rest } = r;
      return [s, { label: labels[s], messages: N, ...rest, msgPerSecond: N / r.seconds, ratioToA: results.a && !results.a.error ? results.a.seconds / r.seconds : null, ratioToFloor: FLOOR_OF[s] && results[FLOOR_OF[s]] && !results[FLOOR_OF[s]].error ? results[FLOOR_OF[s]].seconds / r.seconds : null, ...(summary ? { summary } : {}) }];
    })),
    targets: tgt.map(({ name, met, ratio }) => ({ name, met, ratio: ratio ?? null })),
    totalSeconds: (performance.now() - started) / 1000,
  };
  const file = writeResults('drain', json);
  process.stdout.write(`\nresults: ${path.relative(root, file)}\n`);
  return SCENARIOS.some((s) => results[s].error) ? 1 : 0;
}

await runMain(main, TOTAL_TIMEOUT_MS);
