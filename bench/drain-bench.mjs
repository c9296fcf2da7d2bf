#!/usr/bin/env node
// Drain benchmark (issue 2, point 11). Run with `npm run bench` (builds first).
//
//   (a) raw amqplib basic.consume + multiple-ack every batch-size messages, quorum queue
//   (b) basic.get + ack loop (one get, one ack per message), quorum queue
//   (c) `exchange user` (the built CLI, spawned) into a fresh SQLite file
//   (d) `exchange user` into a fresh PostgreSQL schema (search_path via the URL's `options`)
//
// Every scenario gets its own freshly declared queue, filled with N messages through a confirm channel
// BEFORE the clock starts; only the draining is timed. Env:
//   BENCH_N (100000)  BENCH_PREFETCH (500)  BENCH_BATCH_SIZE (200)  BENCH_IDLE_MS (500)
//   BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672)  BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test)
//   BENCH_RAW_ACK (batch | each; how (a) acks)  BENCH_SCENARIOS (a,b,c,d)  BENCH_TIMEOUT_S (whole run)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'exchange.js');

const intEnv = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) fail(`${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
};
function fail(message) {
  process.stderr.write(`drain-bench: ${message}\n`);
  process.exit(2);
}

const N = intEnv('BENCH_N', 100_000);
const PREFETCH = intEnv('BENCH_PREFETCH', 500);
const BATCH = intEnv('BENCH_BATCH_SIZE', 200);
const IDLE_MS = intEnv('BENCH_IDLE_MS', 500);
const BODY_BYTES = 350;
const PUBLISH_WINDOW = 2000;
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RAW_ACK = process.env.BENCH_RAW_ACK ?? 'batch';
if (!['batch', 'each'].includes(RAW_ACK)) fail('BENCH_RAW_ACK must be batch or each');
// With multiple-ack every k messages, k must not exceed the prefetch or the window never reopens.
const RAW_ACK_EVERY = Math.min(BATCH, PREFETCH);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'a,b,c,d').split(',').map((s) => s.trim()).filter(Boolean);
for (const s of SCENARIOS) if (!['a', 'b', 'c', 'd'].includes(s)) fail(`unknown scenario "${s}" in BENCH_SCENARIOS`);

// Time limits: generous floors, scaled with N (a 100k run is a few minutes in all).
const FILL_TIMEOUT_MS = Math.max(60_000, N * 2);           // 100k → 200 s
const DRAIN_TIMEOUT_MS = Math.max(60_000, N * 3);          // 100k → 300 s
const CLI_SHORT_TIMEOUT_MS = 60_000;                       // setup, records count
const STEP_TIMEOUT_MS = 30_000;                            // connect, declare, delete, pg DDL
const TOTAL_TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', Math.max(600, Math.ceil(N / 100) + 300)) * 1000;

const runTag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const cleanups = []; // LIFO: { label, fn }
const children = new Set();
let tmpDir;

// ---------------------------------------------------------------- helpers

function withTimeout(promise, ms, label) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const log = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const onCleanup = (label, fn) => cleanups.push({ label, fn });
const cpuOf = (usage) => (usage.user + usage.system) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runCleanups() {
  for (const child of children) killGroup(child);
  while (cleanups.length > 0) {
    const { label, fn } = cleanups.pop();
    try {
      await withTimeout(Promise.resolve().then(fn), STEP_TIMEOUT_MS, `cleanup ${label}`);
    } catch (error) {
      log(`cleanup ${label} failed: ${error.message}`);
    }
  }
}

function killGroup(child) {
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
}

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

async function connect() {
  const connection = await withTimeout(amqp.connect(AMQP_URL, { noDelay: true, clientProperties: { connection_name: `drain-bench ${process.pid}` } }), STEP_TIMEOUT_MS, 'connect to RabbitMQ');
  connection.on('error', (error) => log(`connection error: ${error.message}`));
  return connection;
}

/** Runs one broker operation on a throw-away channel (a 404/406 closes only that channel). */
async function onChannel(connection, fn) {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    return await withTimeout(fn(channel), STEP_TIMEOUT_MS, 'broker operation');
  } finally {
    await channel.close().catch(() => undefined);
  }
}

async function messageCount(connection, queue) {
  return onChannel(connection, async (ch) => (await ch.checkQueue(queue)).messageCount);
}

/** Publishes N bodies through a confirm channel with at most PUBLISH_WINDOW unconfirmed; resolves when all are confirmed. */
async function fill(connection, exchange, routingKey, expectQueue) {
  const started = performance.now();
  const channel = await connection.createConfirmChannel();
  let failure;
  channel.on('error', (error) => { failure ??= error; });
  let returned = 0;
  channel.on('return', () => { returned++; });
  let outstanding = 0;
  let nacked = 0;
  let wake;
  const waitBelow = (limit) => new Promise((resolve) => {
    const check = () => { if (outstanding < limit || failure) { wake = undefined; resolve(); } };
    wake = check;
    check();
  });
  const work = (async () => {
    for (let i = 1; i <= N; i++) {
      if (failure) throw failure;
      if (outstanding >= PUBLISH_WINDOW) await waitBelow(PUBLISH_WINDOW / 2);
      const { id, version, body } = makeBody(i);
      outstanding++;
      const ok = channel.publish(exchange, routingKey, body, {
        persistent: true, contentType: 'application/json', messageId: `user:${id}:${version}`, mandatory: true,
      }, (error) => {
        if (error) nacked++;
        outstanding--;
        wake?.();
      });
      if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
    }
    await channel.waitForConfirms();
    if (failure) throw failure;
  })();
  await withTimeout(work, FILL_TIMEOUT_MS, `filling ${expectQueue}`);
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

/** Spawns the CLI (under /usr/bin/time -v when present, for the peak RSS); own process group, killed on timeout. */
function runCli(args, { env, cwd, timeoutMs, label }) {
  const useTime = existsSync('/usr/bin/time');
  const command = useTime ? '/usr/bin/time' : process.execPath;
  const argv = useTime ? ['-v', process.execPath, bin, ...args] : [bin, ...args];
  const started = performance.now();
  const child = spawn(command, argv, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  // Without /usr/bin/time: poll VmHWM of the node process itself.
  let hwmKb = 0;
  let cpuSeconds;
  const poller = useTime ? undefined : setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
    } catch { /* exited */ }
  }, 50);
  const finished = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      if (poller) clearInterval(poller);
      children.delete(child);
      if (useTime) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
        if (m) hwmKb = Number(m[1]);
        const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
        const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
        if (user && sys) cpuSeconds = Number(user[1]) + Number(sys[1]);
        stderr = stderr.replace(/\n?\tCommand being timed:[\s\S]*$/, '');
      }
      resolve({ code, signal, stdout, stderr, seconds, cpuSeconds, peakRssMb: hwmKb ? hwmKb / 1024 : undefined });
    });
  });
  return withTimeout(finished, timeoutMs, label).catch((error) => {
    killGroup(child);
    throw error;
  });
}

function cliEnv(tenant, recordStore) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EXCHANGE_')) env[k] = v;
  return { ...env, EXCHANGE_AMQP_URL: AMQP_URL, EXCHANGE_RECORD_STORE: recordStore, EXCHANGE_TENANT: tenant, NO_COLOR: '1' };
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

async function cliDrain(connection, engine) {
  const letter = engine === 'sqlite' ? 'c' : 'd';
  const tenant = `bench${letter}_${runTag}`;
  let recordStore;
  if (engine === 'sqlite') {
    recordStore = `sqlite:${path.join(tmpDir, `${tenant}.db`)}`;
  } else {
    const schema = `bench_${runTag}`;
    const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 8000 });
    await withTimeout(admin.connect(), STEP_TIMEOUT_MS, 'connect to PostgreSQL');
    try {
      await withTimeout(admin.query(`CREATE SCHEMA ${schema}`), STEP_TIMEOUT_MS, 'create schema');
    } finally {
      await admin.end().catch(() => undefined);
    }
    onCleanup(`pg schema ${schema}`, async () => {
      const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 8000 });
      await c.connect();
      try { await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } finally { await c.end(); }
    });
    recordStore = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }
  const env = cliEnv(tenant, recordStore);

  // Every queue and exchange `setup` declares for this tenant, computed the way the CLI computes them.
  const { configSchema } = await import(path.join(root, 'dist/config/schema.js'));
  const { allRoutes, routesOf } = await import(path.join(root, 'dist/amqp/topology.js'));
  const config = configSchema.parse({ tenant });
  const routes = allRoutes(config);
  onCleanup(`topology of tenant ${tenant}`, async () => {
    for (const route of routes) {
      for (const q of [route.queue, route.retryQueue, route.deadLetterQueue]) await onChannel(connection, (ch) => ch.deleteQueue(q));
    }
    for (const exchange of new Set(routes.map((r) => r.exchange))) await onChannel(connection, (ch) => ch.deleteExchange(exchange));
  });
  const setup = await runCli(['setup'], { env, cwd: tmpDir, timeoutMs: CLI_SHORT_TIMEOUT_MS, label: `(${letter}) exchange setup` });
  expectExit(setup, 'exchange setup');

  const [route] = routesOf(config, 'user');
  const fillSeconds = await fill(connection, route.exchange, 'user.upsert', route.queue);

  const args = ['user', '--limit', '0', '--prefetch', String(PREFETCH), '--batch-size', String(BATCH), '--idle-ms', String(IDLE_MS), '--json'];
  const run = await runCli(args, { env, cwd: tmpDir, timeoutMs: DRAIN_TIMEOUT_MS, label: `(${letter}) exchange user` });
  const lines = run.stdout.trim().split('\n').filter(Boolean);
  let summary;
  try { summary = JSON.parse(lines.at(-1)); } catch { /* reported below */ }
  if (!summary || summary.event !== 'summary') throw new Error(`(${letter}) no JSON summary as last stdout line (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
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
  c: '(c) exchange user → SQLite',
  d: '(d) exchange user → PostgreSQL',
};
if (RAW_ACK === 'each') labels.a = '(a) raw consume + ack each';

function table(results) {
  const base = results.a?.seconds ? N / results.a.seconds : undefined;
  const headers = ['scenario', 'messages', 'seconds', 'msg/s', 'ratio to (a)', 'peak RSS'];
  const rows = SCENARIOS.map((s) => {
    const r = results[s];
    if (!r || r.error) return [labels[s], String(N), '-', '-', '-', r?.error ? 'FAILED' : '-'];
    const rate = N / r.seconds;
    return [
      labels[s], String(N), r.seconds.toFixed(2), Math.round(rate).toLocaleString('en-US'),
      base ? (rate / base).toFixed(2) : '-', r.peakRssMb ? `${Math.round(r.peakRssMb)} MB` : '',
    ];
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
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
  return [check(c, 0.8, a, 'target (c) ≥ 0.8 × (a)'), check(c, 5, b, 'target (c) ≥ 5 × (b)')];
}

async function main() {
  const started = performance.now();
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) fail('dist/ is missing: run `npm run bench` (it builds first)');
  tmpDir = mkdtempSync(path.join(os.tmpdir(), `drain-bench-${runTag}-`));
  onCleanup(`temp dir ${tmpDir}`, () => rmSync(tmpDir, { recursive: true, force: true }));
  const connection = await connect();
  onCleanup('AMQP connection', () => connection.close());
  const serverVersion = String(connection.connection.serverProperties?.version ?? '?');
  log(`N=${N}, ${BODY_BYTES}-byte bodies, prefetch ${PREFETCH}, batch size ${BATCH}, idle-ms ${IDLE_MS}, RabbitMQ ${serverVersion}, run ${runTag}`);

  const results = {};
  const run = { a: () => rawConsume(connection), b: () => getLoop(connection), c: () => cliDrain(connection, 'sqlite'), d: () => cliDrain(connection, 'postgres') };
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
    `(c)/(d) seconds = wall clock of the spawned \`exchange user --limit 0 --prefetch ${PREFETCH} --batch-size ${BATCH} --idle-ms ${IDLE_MS} --json\`, from spawn to exit`,
    `        (includes Node start-up, connect, migrations check and the final ${IDLE_MS} ms idle wait); peak RSS of that process.`,
  ];
  for (const s of ['c', 'd']) {
    const r = results[s];
    if (r && !r.error) out.push(`        ${labels[s]}: summary durationMs ${r.summaryDurationMs} → ${Math.round(N / ((r.summaryDurationMs - IDLE_MS) / 1000)).toLocaleString('en-US')} msg/s without the idle wait`);
  }
  const cpuNotes = SCENARIOS.filter((s) => results[s] && !results[s].error && results[s].cpuSeconds !== undefined)
    .map((s) => `${s}: ${results[s].cpuSeconds.toFixed(2)} s = ${Math.round((results[s].cpuSeconds * 1e6) / N)} µs/msg`);
  if (cpuNotes.length > 0) out.push(`CPU (user+sys) of the draining client — ${cpuNotes.join('; ')}`, `        ((a)/(b): the bench process while draining; (c)/(d): the whole exchange process)`);
  process.stdout.write(`${out.join('\n')}\n`);

  const date = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(root, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `drain-${date}.json`);
  const json = {
    date: new Date().toISOString(),
    runTag,
    settings: { n: N, bodyBytes: BODY_BYTES, prefetch: PREFETCH, batchSize: BATCH, idleMs: IDLE_MS, rawAck: RAW_ACK, rawAckEvery: RAW_ACK === 'each' ? 1 : RAW_ACK_EVERY, queueType: 'quorum' },
    environment: { node: process.version, rabbitmq: serverVersion, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}` },
    results: Object.fromEntries(SCENARIOS.map((s) => {
      const r = results[s];
      if (r.error) return [s, { label: labels[s], error: r.error }];
      const { summary, ...rest } = r;
      return [s, { label: labels[s], messages: N, ...rest, msgPerSecond: N / r.seconds, ratioToA: results.a && !results.a.error ? results.a.seconds / r.seconds : null, ...(summary ? { summary } : {}) }];
    })),
    targets: tgt.map(({ name, met, ratio }) => ({ name, met, ratio: ratio ?? null })),
    totalSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nresults: ${path.relative(root, file)}\n`);
  return SCENARIOS.some((s) => results[s].error) ? 1 : 0;
}

const hardStop = setTimeout(async () => {
  log(`the whole run exceeded ${TOTAL_TIMEOUT_MS / 1000} s; cleaning up and exiting`);
  await runCleanups();
  process.exit(3);
}, TOTAL_TIMEOUT_MS);
hardStop.unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    log(`${signal}: cleaning up`);
    await runCleanups();
    process.exit(130);
  });
}

let exitCode = 1;
const t0 = performance.now();
try {
  exitCode = await main();
} catch (error) {
  log(`error: ${error.stack ?? error.message}`);
} finally {
  log('cleaning up');
  await runCleanups();
  log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
process.exit(exitCode);
