// What the benchmark scripts (drain-bench, import-bench, crm-bench) have in common: env parsing, logging,
// cleanup on every way out, spawning the built CLI with its peak RSS and CPU time, the amqplib plumbing,
// table and results-file output, and the main wrapper with its hard stop. One bench script runs per
// process, so the registries below (cleanups, children, the script name) are module-level on purpose.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import pg from 'pg';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bin = path.join(root, 'bin', 'exchange.js');

export const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const CLI_SHORT_TIMEOUT_MS = 60_000; // setup, records count
export const STEP_TIMEOUT_MS = 30_000; // connect, declare, delete, queue counts, each cleanup

// Unique per run, so queues, tenants and temp dirs of concurrent or crashed runs never collide.
export const runTag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

let scriptName = 'bench';
let logTag = 'bench';
/** Names the running script: the prefix of fail() and the AMQP connection name, and the log tag. */
export function setScriptName(name, { tag = 'bench' } = {}) {
  scriptName = name;
  logTag = tag;
}

/** Bad settings are the caller's fault: exit 2 before anything is created. */
export function fail(message) {
  process.stderr.write(`${scriptName}: ${message}\n`);
  process.exit(2);
}

export function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) fail(`${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** Like intEnv, for settings where fractions make sense (a rate of 0.5 requests/s). */
export function numEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number, got "${raw}"`);
  return value;
}

// Progress goes to stderr so stdout holds only the report.
export const log = (line) => process.stderr.write(`[${logTag} ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
export const cpuOf = (usage) => (usage.user + usage.system) / 1e6;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every wait is bounded: a stuck broker or child must fail the scenario, not hang the run. */
export function withTimeout(promise, ms, label) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- PostgreSQL

/**
 * A fresh schema for one scenario, dropped at cleanup; returns the store URL that makes it the search_path, so
 * that the CLI's tables land in it.
 */
export async function pgSchema(pgUrl, name) {
  const admin = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 8000 });
  await withTimeout(admin.connect(), STEP_TIMEOUT_MS, 'connect to PostgreSQL');
  try {
    await withTimeout(admin.query(`CREATE SCHEMA ${name}`), STEP_TIMEOUT_MS, 'create schema');
  } finally {
    await admin.end().catch(() => undefined);
  }
  onCleanup(`pg schema ${name}`, async () => {
    const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 8000 });
    await c.connect();
    try { await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`); } finally { await c.end(); }
  });
  return `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}`;
}

// ---------------------------------------------------------------- cleanup

const cleanups = []; // LIFO: { label, fn }
const children = new Set();

/** Registers an undo step; they run last-in first-out on exit, timeout and signals alike. */
export const onCleanup = (label, fn) => cleanups.push({ label, fn });

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

// Children run in their own process group (detached), so /usr/bin/time and the node under it die together.
function killGroup(child) {
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
}

/** A fresh temp dir named after the run, removed at the end. */
export function makeTempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-${runTag}-`));
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------- child processes

/**
 * Spawns `node <nodeArgs>` (under /usr/bin/time -v when present, for the peak RSS and CPU time); own
 * process group, killed on timeout. Without /usr/bin/time, polls VmHWM of the node process.
 */
export function runNode(nodeArgs, { env, cwd, timeoutMs, label }) {
  const useTime = existsSync('/usr/bin/time');
  const command = useTime ? '/usr/bin/time' : process.execPath;
  const argv = useTime ? ['-v', process.execPath, ...nodeArgs] : nodeArgs;
  const started = performance.now();
  const child = spawn(command, argv, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
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
        // time's report (and its "Command exited with non-zero status" line) is not the child's stderr.
        stderr = stderr.replace(/\n?\tCommand (being timed|exited)[\s\S]*$/, '');
      }
      resolve({ code, signal, stdout, stderr, seconds, cpuSeconds, peakRssMb: hwmKb ? hwmKb / 1024 : undefined });
    });
  });
  return withTimeout(finished, timeoutMs, label).catch((error) => {
    killGroup(child);
    throw error;
  });
}

/** The built CLI, spawned as runNode does. */
export const runCli = (args, options) => runNode([bin, ...args], options);

/** The environment for the CLI: no EXCHANGE_* from the caller's shell, only the bench's own settings. */
export function cliEnv(tenant, recordStore) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EXCHANGE_')) env[k] = v;
  return { ...env, EXCHANGE_AMQP_URL: AMQP_URL, EXCHANGE_RECORD_STORE: recordStore, EXCHANGE_TENANT: tenant, NO_COLOR: '1' };
}

/** The JSON summary the CLI prints as its last stdout line with --json, or undefined (the caller words the error). */
export function lastSummary(stdout) {
  const lines = stdout.trim().split('\n').filter(Boolean);
  let summary;
  try { summary = JSON.parse(lines.at(-1)); } catch { /* no summary */ }
  return summary && summary.event === 'summary' ? summary : undefined;
}

/** Fails early, before any broker state is created, when the CLI has not been built. */
export function requireDist(npmScript) {
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) fail(`dist/ is missing: run \`${npmScript}\` (it builds first)`);
}

// ---------------------------------------------------------------- RabbitMQ

/** Connects (closed at cleanup) and reports the broker version for the report header. */
export async function connect() {
  const connection = await withTimeout(amqp.connect(AMQP_URL, { noDelay: true, clientProperties: { connection_name: `${scriptName} ${process.pid}` } }), STEP_TIMEOUT_MS, 'connect to RabbitMQ');
  connection.on('error', (error) => log(`connection error: ${error.message}`));
  onCleanup('AMQP connection', () => connection.close());
  const serverVersion = String(connection.connection.serverProperties?.version ?? '?');
  return { connection, serverVersion };
}

/** Runs one broker operation on a throw-away channel (a 404/406 closes only that channel). */
export async function onChannel(connection, fn) {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    return await withTimeout(fn(channel), STEP_TIMEOUT_MS, 'broker operation');
  } finally {
    await channel.close().catch(() => undefined);
  }
}

export async function messageCount(connection, queue) {
  return onChannel(connection, async (ch) => (await ch.checkQueue(queue)).messageCount);
}

/**
 * The routes `exchange setup` declares for a tenant, computed by the built CLI's own code; their queues and
 * exchanges are deleted at cleanup.
 */
export async function tenantTopology(connection, tenant) {
  const { configSchema } = await import(path.join(root, 'dist/config/schema.js'));
  const topology = await import(path.join(root, 'dist/amqp/topology.js'));
  const config = configSchema.parse({ tenant });
  const routes = topology.allRoutes(config);
  onCleanup(`topology of tenant ${tenant}`, async () => {
    for (const route of routes) {
      for (const q of [route.queue, route.retryQueue, route.deadLetterQueue]) await onChannel(connection, (ch) => ch.deleteQueue(q));
    }
    for (const exchange of new Set(routes.map((r) => r.exchange))) await onChannel(connection, (ch) => ch.deleteExchange(exchange));
  });
  return { config, routes, topology };
}

/**
 * Publishes `messages` ({ exchange, routingKey, body, options }) on a confirm channel with at most `window`
 * unconfirmed (once full, waits until fewer than `resumeBelow` are out), honouring back-pressure, and waits
 * for every confirm. The channel stays open so the caller stops its clock before closing it.
 */
export async function publishConfirmed(channel, messages, { window, resumeBelow = window, timeoutMs, label }) {
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
    for (const { exchange, routingKey, body, options } of messages) {
      if (failure) throw failure;
      if (outstanding >= window) await waitBelow(resumeBelow);
      outstanding++;
      const ok = channel.publish(exchange, routingKey, body, options, (error) => {
        if (error) nacked++;
        outstanding--;
        wake?.();
      });
      if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
    }
    await channel.waitForConfirms();
    if (failure) throw failure;
  })();
  await withTimeout(work, timeoutMs, label);
  return { nacked, returned };
}

// ---------------------------------------------------------------- report

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function formatTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The machine the figures came from, for the results file. */
export function environment(serverVersion) {
  return { node: process.version, rabbitmq: serverVersion, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, platform: `${os.platform()} ${os.release()}` };
}

/**
 * Writes bench/out/<kind>-<time>.json and returns its path. `end` is what follows the JSON: crm-bench's
 * files have never ended with a newline, and its output stays as it was.
 */
export function writeResults(kind, json, end = '\n') {
  const outDir = path.join(root, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}${end}`);
  return file;
}

// ---------------------------------------------------------------- main

/**
 * Runs main() (which resolves the exit code) with cleanup on every way out: normal end, error, SIGINT/SIGTERM
 * (exit 130) and a hard stop after totalTimeoutMs (exit 3). Does not return.
 */
export async function runMain(main, totalTimeoutMs) {
  const hardStop = setTimeout(async () => {
    log(`the whole run exceeded ${totalTimeoutMs / 1000} s; cleaning up and exiting`);
    await runCleanups();
    process.exit(3);
  }, totalTimeoutMs);
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
}
