#!/usr/bin/env node
// Scale benchmark (issue 11, item 7). Run with `npm run bench:scale` (builds first).
//
// The same N user messages, drained into PostgreSQL by 1, 2 and 3 `exchange user` processes started together,
// on the single broker (5672) and on a three-node cluster started here (scripts/cluster.sh, 5681..5683, stopped
// at the end whatever happens). Each process of the cluster runs lists its own node first in amqp.urls
// (EXCHANGE_AMQP_URLS), the queues are quorum queues on all three nodes (amqp.quorumInitialGroupSize 3).
// Every scenario gets a fresh tenant (queues) and a fresh PostgreSQL schema, filled before the clock starts;
// the clock runs from the first spawn to the last exit, as a user sees it. Each scenario is verified: every
// process exits 0, the written counts add up to N, N rows in the store, the route's three queues empty.
// Env:
//   BENCH_N (100000)  BENCH_PREFETCH (500)  BENCH_BATCH_SIZE (200)  BENCH_PROCESSES (1,2,3)
//   BENCH_REPEAT (3: rounds of every process count, interleaved; the table shows the median and the range)
//   BENCH_TARGETS (single,cluster)  BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672)
//   BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test)  BENCH_TIMEOUT_S (whole run)
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import {
  AMQP_URL, CLI_SHORT_TIMEOUT_MS, STEP_TIMEOUT_MS, cliEnv, connect, environment, fail, formatTable, intEnv, lastSummary, log,
  makeTempDir, messageCount, onCleanup, pgSchema, publishConfirmed, requireDist, root, runCli, runMain, runTag, setScriptName, sleep,
  tenantTopology, withTimeout, writeResults,
} from './support.mjs';

setScriptName('scale-bench');

const N = intEnv('BENCH_N', 100_000);
const PREFETCH = intEnv('BENCH_PREFETCH', 500);
const BATCH = intEnv('BENCH_BATCH_SIZE', 200);
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PROCESSES = (process.env.BENCH_PROCESSES ?? '1,2,3').split(',').map((s) => Number(s.trim()));
for (const k of PROCESSES) if (!Number.isInteger(k) || k < 1 || k > 9) fail('BENCH_PROCESSES lists process counts from 1 to 9, e.g. 1,2,3');
const REPEAT = intEnv('BENCH_REPEAT', 3);
const TARGETS = (process.env.BENCH_TARGETS ?? 'single,cluster').split(',').map((s) => s.trim()).filter(Boolean);
for (const t of TARGETS) if (!['single', 'cluster'].includes(t)) fail(`unknown target "${t}" in BENCH_TARGETS (single, cluster)`);
const BODY_BYTES = 350;
const PUBLISH_WINDOW = 2000;
const FILL_TIMEOUT_MS = Math.max(60_000, N * 2);
const DRAIN_TIMEOUT_MS = Math.max(60_000, N * 3);
const TOTAL_TIMEOUT_MS = intEnv('BENCH_TIMEOUT_S', Math.max(900, Math.ceil((N * PROCESSES.length * TARGETS.length * REPEAT) / 150) + 600)) * 1000;
const clusterScript = path.join(root, 'scripts', 'cluster.sh');
const run = promisify(execFile);

let tmpDir;

/** A valid user envelope of BODY_BYTES bytes (as drain-bench's), unique id, its own version. */
function makeBody(i) {
  const seq = String(i).padStart(12, '0');
  const id = `${runTag.slice(0, 8).padEnd(8, '0')}-0000-4000-8000-${seq}`;
  const version = new Date(Date.UTC(2026, 10, 22, 10, 15, 0) + i).toISOString();
  const data = { name: `ООО «Бенч ${i}»`, inn: String(7700000000 + (i % 100000000)).padStart(10, '0'), kpp: '770101001', email: `user${i}@bench.example`, phone: '+7 (495) 000-00-00', address: '' };
  const envelope = { type: 'user', op: 'upsert', id, version, source: 'bench', occurredAt: '2026-11-22T10:15:03.120Z', data };
  const missing = BODY_BYTES - Buffer.byteLength(JSON.stringify(envelope));
  data.address = 'x'.repeat(Math.max(0, missing));
  return { id, version, body: Buffer.from(JSON.stringify(envelope)) };
}

async function fill(connection, exchange, queue) {
  const channel = await connection.createConfirmChannel();
  const messages = (function* () {
    for (let i = 1; i <= N; i++) {
      const { id, version, body } = makeBody(i);
      yield { exchange, routingKey: 'user.upsert', body, options: { persistent: true, contentType: 'application/json', messageId: `user:${id}:${version}`, mandatory: true } };
    }
  })();
  const { nacked, returned } = await publishConfirmed(channel, messages, { window: PUBLISH_WINDOW, resumeBelow: PUBLISH_WINDOW / 2, timeoutMs: FILL_TIMEOUT_MS, label: `filling ${queue}` });
  await channel.close().catch(() => undefined);
  if (nacked > 0 || returned > 0) throw new Error(`filling ${queue}: ${nacked} nacked, ${returned} returned`);
  let count = -1;
  for (let tries = 0; tries < 100; tries++) {
    count = await messageCount(connection, queue);
    if (count === N) return;
    await sleep(100);
  }
  throw new Error(`filling ${queue}: queue holds ${count} messages, expected ${N}`);
}

async function rowsIn(schema) {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 8000 });
  await c.connect();
  try { return Number((await c.query(`SELECT COUNT(*)::int AS n FROM ${schema}.records`)).rows[0].n); } finally { await c.end(); }
}

/** Starts the cluster of scripts/cluster.sh; it is stopped (and its folders removed) at cleanup, whatever happens. */
async function startCluster() {
  // A cluster left by a run killed outright (SIGKILL skips every cleanup) goes first.
  await run(clusterScript, ['stop'], { timeout: 240_000 }).catch(() => undefined);
  onCleanup('RabbitMQ cluster clu1..3', () => run(clusterScript, ['stop'], { timeout: 240_000 }));
  log('starting the three-node cluster (scripts/cluster.sh start)');
  const { stdout } = await withTimeout(run(clusterScript, ['start'], { timeout: 300_000 }), 310_000, 'start the cluster');
  const urls = stdout.trim().split('\n').filter((line) => line.startsWith('amqp://'));
  if (urls.length !== 3) throw new Error(`the cluster script printed ${urls.length} URLs, expected 3:\n${stdout}`);
  const connection = await withTimeout(amqp.connect(urls[0], { noDelay: true }), STEP_TIMEOUT_MS, 'connect to clu1');
  connection.on('error', () => undefined);
  onCleanup('AMQP connection to clu1', () => connection.close().catch(() => undefined));
  return { urls, connection };
}

/** One scenario: k processes drain N messages of a fresh tenant on `target`. */
async function scenario(target, k, round, broker) {
  const tenant = `scale${target[0]}${k}r${round}_${runTag}`;
  const schema = `bench_scale_${target[0]}${k}r${round}_${runTag}`;
  const recordStore = await pgSchema(PG_URL, schema);
  const configFile = path.join(tmpDir, `${tenant}.exchangerc.json`);
  fs.writeFileSync(configFile, JSON.stringify(target === 'cluster' ? { amqp: { quorumInitialGroupSize: 3 } } : {}));
  const envFor = (index) => {
    const env = { ...cliEnv(tenant, recordStore), EXCHANGE_CONFIG: configFile };
    if (target === 'cluster') {
      delete env.EXCHANGE_AMQP_URL;
      // Each process near its own node: that node first, then the others.
      env.EXCHANGE_AMQP_URLS = [...broker.urls.slice(index % 3), ...broker.urls.slice(0, index % 3)].join(',');
    }
    return env;
  };
  const { config, topology } = target === 'single' ? await tenantTopology(broker.connection, tenant) : await clusterTopology(tenant);
  const setup = await runCli(['setup'], { env: envFor(0), cwd: tmpDir, timeoutMs: CLI_SHORT_TIMEOUT_MS, label: `${target} ${k}: exchange setup` });
  if (setup.code !== 0) throw new Error(`${target} ${k}: exchange setup exited ${setup.code}:\n${setup.stderr}`);
  const [route] = topology.routesOf(config, 'user');
  log(`${target}, ${k} process${k === 1 ? '' : 'es'}: filling ${route.queue} with ${N}`);
  await fill(broker.connection, route.exchange, route.queue);

  const args = ['user', '--limit', '0', '--prefetch', String(PREFETCH), '--batch-size', String(BATCH), '--json'];
  const started = performance.now();
  const runs = await Promise.all(Array.from({ length: k }, (_, index) => runCli(args, { env: envFor(index), cwd: tmpDir, timeoutMs: DRAIN_TIMEOUT_MS, label: `${target} ${k}: exchange user #${index + 1}` })));
  const seconds = (performance.now() - started) / 1000;

  const written = [];
  for (const [index, result] of runs.entries()) {
    const summary = lastSummary(result.stdout);
    if (result.code !== 0 || !summary) throw new Error(`${target} ${k}: exchange user #${index + 1} exited ${result.code ?? result.signal}:\n${result.stderr.trim()}`);
    written.push(summary.written);
  }
  const sum = written.reduce((a, b) => a + b, 0);
  if (sum !== N) throw new Error(`${target} ${k}: the processes wrote ${written.join(' + ')} = ${sum}, expected ${N}`);
  const rows = await rowsIn(schema);
  if (rows !== N) throw new Error(`${target} ${k}: ${rows} rows stored, expected ${N}`);
  for (const q of [route.queue, route.retryQueue, route.deadLetterQueue]) {
    const left = await messageCount(broker.connection, q);
    if (left !== 0) throw new Error(`${target} ${k}: ${left} messages left in ${q}`);
  }
  const cpu = runs.reduce((total, r) => total + (r.cpuSeconds ?? 0), 0);
  log(`${target}, ${k}: ${seconds.toFixed(2)} s, ${Math.round(N / seconds)} msg/s; written per process ${written.join(', ')}`);
  return { target, processes: k, seconds, rate: N / seconds, writtenPerProcess: written, cpuSeconds: cpu, peakRssMb: Math.max(...runs.map((r) => r.peakRssMb ?? 0)) };
}

/** The routes of a tenant, computed by the built CLI's own code; the cluster is removed whole at the end. */
async function clusterTopology(tenant) {
  const { configSchema } = await import(path.join(root, 'dist/config/schema.js'));
  const topology = await import(path.join(root, 'dist/amqp/topology.js'));
  return { config: configSchema.parse({ tenant, amqp: { quorumInitialGroupSize: 3 } }), topology };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** One row per broker and process count: the median of its rounds (a shared 2-core machine is noisy). */
function summarize(results) {
  const rows = [];
  for (const target of TARGETS) {
    for (const k of PROCESSES) {
      const rounds = results.filter((r) => r.target === target && r.processes === k);
      const ok = rounds.filter((r) => !r.error);
      if (ok.length === 0) { rows.push({ target, processes: k, error: rounds[0]?.error ?? 'not run' }); continue; }
      const rates = ok.map((r) => r.rate);
      rows.push({ target, processes: k, rounds: ok.length, failed: rounds.length - ok.length, seconds: median(ok.map((r) => r.seconds)), rate: median(rates), min: Math.min(...rates), max: Math.max(...rates), cpuSeconds: median(ok.map((r) => r.cpuSeconds)) });
    }
  }
  return rows;
}

function table(rows) {
  const headers = ['broker', 'processes', 'messages', 'rounds', 'seconds', 'msg/s (median)', 'range msg/s', 'ratio to 1 process', 'CPU s (all processes)'];
  const rate = (value) => Math.round(value).toLocaleString('en-US');
  return formatTable(headers, rows.map((r) => {
    const broker = r.target === 'single' ? 'single (5672)' : 'cluster (3 nodes)';
    if (r.error) return [broker, String(r.processes), String(N), '0', '-', '-', '-', '-', 'FAILED'];
    const one = rows.find((o) => o.target === r.target && o.processes === 1 && !o.error);
    return [
      broker, String(r.processes), String(N), `${r.rounds}${r.failed ? ` (+${r.failed} failed)` : ''}`, r.seconds.toFixed(2), rate(r.rate), `${rate(r.min)}–${rate(r.max)}`,
      one ? `${(r.rate / one.rate).toFixed(2)} ×` : '-', r.cpuSeconds ? r.cpuSeconds.toFixed(1) : '',
    ];
  }));
}

async function main() {
  requireDist('npm run bench:scale');
  tmpDir = makeTempDir('scale-bench');
  const cores = os.availableParallelism();
  // Other work on the machine shows in the figures: the load before and after is printed with them.
  const loadBefore = os.loadavg()[0];
  const results = [];
  let serverVersion = '?';
  for (const target of TARGETS) {
    let broker;
    if (target === 'single') {
      const single = await connect();
      serverVersion = single.serverVersion;
      broker = { connection: single.connection, urls: [AMQP_URL] };
    } else {
      broker = await startCluster();
    }
    // Rounds interleave the process counts, so that a burst of load from elsewhere does not land on one count only.
    for (let round = 1; round <= REPEAT; round++) {
      for (const k of PROCESSES) {
        try {
          results.push({ round, ...(await scenario(target, k, round, broker)) });
        } catch (error) {
          log(`${target} ${k} round ${round}: FAILED: ${error.message}`);
          results.push({ target, processes: k, round, error: error.message });
        }
      }
    }
    if (target === 'cluster') {
      // Stopped now rather than at the end: the nodes' memory and CPU are not needed any more.
      await run(clusterScript, ['stop'], { timeout: 240_000 }).catch((error) => log(`stopping the cluster: ${error.message}`));
    }
  }
  const rows = summarize(results);
  const report = [
    `Scale: ${N} user messages of ${BODY_BYTES} bytes drained into PostgreSQL by k processes started together (prefetch ${PREFETCH}, batch size ${BATCH})`,
    `machine: ${cores} cores (os.availableParallelism()), ${Math.round(os.totalmem() / 2 ** 30)} GB; RabbitMQ ${serverVersion}; Node ${process.version}; load average (1 min) ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after`,
    '',
    table(rows),
    '',
  ].join('\n');
  process.stdout.write(report);
  const file = writeResults('scale-bench', { n: N, prefetch: PREFETCH, batchSize: BATCH, repeat: REPEAT, cores, environment: environment(serverVersion), rows, results });
  log(`results: ${path.relative(root, file)}`);
  return results.some((r) => r.error) ? 1 : 0;
}

runMain(main, TOTAL_TIMEOUT_MS);
