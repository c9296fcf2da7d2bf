#!/usr/bin/env node
// CRM sink benchmark (issue 4, point 6). Run with `npm run bench:crm` (builds first).
//
// N users (BENCH_N, default 5000) go from RabbitMQ through `exchange user --sink crm` (the built CLI) into the
// Bitrix24 test portal of test/support/bitrix24-server.ts, which enforces Bitrix24's own leaky bucket:
// 2 requests/s, burst 50 (BENCH_RPS, BENCH_BURST). The client is configured with the same limits.
//   run 1: every user is new: batched lookups by ORIGIN_ID / XML_ID, then company + requisite creates
//   run 2: every user changed (address and version): links known, one crm.company.update each; the
//          requisite did not change and is not rewritten
// Run 2 starts right after run 1, with the portal's bucket still full, as a cron job that follows another.
// Reported per run: upserts/s, CRM commands/s, commands per upsert, requests, refusals. Results also go to
// bench/out/crm-<time>.json. Env: BENCH_N, BENCH_RPS, BENCH_BURST, BENCH_BATCH_SIZE (200),
// BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import amqp from 'amqplib';
import ts from 'typescript';
import { AMQP_URL, bin, log, numEnv, root, runTag, setScriptName, writeResults } from './support.mjs';

setScriptName('crm-bench', { tag: 'crm-bench' });

const N = numEnv('BENCH_N', 5000);
const RPS = numEnv('BENCH_RPS', 2);
const BURST = numEnv('BENCH_BURST', 50);
const BATCH = numEnv('BENCH_BATCH_SIZE', 200);
// Each run is bounded by the portal's ceiling: N users need at most ~2N/50 requests at RPS/s, plus a margin.
const RUN_TIMEOUT_MS = Math.ceil(((4 * N) / 50 / RPS) * 1000) + 120_000;

const tenant = `bench${runTag}`;
const work = mkdtempSync(path.join(os.tmpdir(), 'exchange-crm-bench-'));
const cleanups = [];
let child;

/** The portal is TypeScript in test/support: transpile it on its own (it imports only Node built-ins). */
async function loadPortal() {
  const source = readFileSync(path.join(root, 'test/support/bitrix24-server.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = path.join(work, 'bitrix24-server.mjs');
  writeFileSync(file, outputText);
  return import(pathToFileURL(file).href);
}

function user(i, round) {
  const id = `${runTag}-${String(i).padStart(6, '0')}`;
  return JSON.stringify({
    type: 'user', op: 'upsert', id, source: '1c',
    version: new Date(Date.UTC(2026, 10, 22 + round, 10, 0, 0) + i).toISOString(),
    data: {
      name: `ООО «Бенч ${i}»`, fullName: `Общество с ограниченной ответственностью «Бенч ${i}»`,
      inn: String(7700000000 + i), kpp: '770101001', email: `user${i}@bench.example`, phone: '+7 (495) 000-00-00',
      address: `г. Москва, ул. ${round === 0 ? 'Тестовая' : 'Новая'}, д. ${i}`,
    },
  });
}

async function publish(connection, exchange, round) {
  const channel = await connection.createConfirmChannel();
  for (let i = 0; i < N; i++) {
    if (!channel.publish(exchange, 'user.upsert', Buffer.from(user(i, round)), { persistent: true, contentType: 'application/json' })) {
      await new Promise((resolve) => channel.once('drain', resolve));
    }
    if (i % 1000 === 999) await channel.waitForConfirms();
  }
  await channel.waitForConfirms();
  await channel.close();
}

function cli(args, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [bin, ...args], { cwd: work, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`exchange ${args.join(' ')} timed out after ${timeoutMs} ms\n${stderr}`)); }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      child = undefined;
      const summary = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).reverse().find((e) => e.event === 'summary');
      resolve({ code, summary, stderr });
    });
  });
}

async function main() {
  if (!existsSync(path.join(root, 'dist/cli/main.js')) && !existsSync(path.join(root, 'dist'))) throw new Error('build first: npm run build');
  const { Bitrix24Server } = await loadPortal();
  const portal = await new Bitrix24Server({ requestsPerSecond: RPS, burst: BURST }).start();
  cleanups.push(() => portal.stop());
  writeFileSync(path.join(work, '.exchangerc.json'), JSON.stringify({
    routes: { user: ['crm'] },
    drain: { idleMs: 2000, batchSize: BATCH },
    crm: { requestsPerSecond: RPS, burst: BURST, timeoutMs: 60_000 },
  }));
  const env = { EXCHANGE_AMQP_URL: AMQP_URL, EXCHANGE_TENANT: tenant, EXCHANGE_BITRIX24_WEBHOOK: portal.webhookUrl };
  const connection = await amqp.connect(AMQP_URL);
  cleanups.push(async () => {
    const channel = await connection.createChannel();
    // `setup` declares every type's routes (the others with their default sink): delete them all.
    for (const type of ['user', 'product', 'mutualsettlements']) {
      for (const sink of ['records', 'crm']) {
        for (const suffix of ['', '.retry', '.dlq']) await channel.deleteQueue(`${tenant}.${type}.${sink}${suffix}`).catch(() => undefined);
      }
      await channel.deleteExchange(`${tenant}.${type}`).catch(() => undefined);
    }
    await connection.close();
  });
  const setup = await cli(['setup'], env, 60_000);
  if (setup.code !== 0) throw new Error(`exchange setup exited ${setup.code}: ${setup.stderr}`);

  const runs = [];
  for (const [round, label] of [[0, 'run 1: new users (lookups + creates)'], [1, 'run 2: every user changed (updates by link)']]) {
    log(`publishing ${N} users for ${label}`);
    await publish(connection, `${tenant}.user`, round);
    const before = structuredClone(portal.counters);
    log(`draining: ${label}`);
    const started = performance.now();
    const result = await cli(['user', '--sink', 'crm', '--json'], env, RUN_TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    if (result.code !== 0) throw new Error(`exchange user exited ${result.code}: ${result.stderr.slice(-2000)}`);
    const commands = portal.counters.commands - before.commands;
    const requests = portal.counters.requests - before.requests;
    const byMethod = Object.fromEntries(Object.entries(portal.counters.byMethod).map(([m, n]) => [m, n - (before.byMethod[m] ?? 0)]).filter(([, n]) => n > 0));
    const written = result.summary?.written ?? 0;
    runs.push({
      run: label, users: N, written, seconds: +seconds.toFixed(1),
      upsertsPerSecond: +(written / seconds).toFixed(1),
      commandsPerSecond: +(commands / seconds).toFixed(1),
      commandsPerUpsert: +(commands / Math.max(1, written)).toFixed(2),
      requests, commands, refused: portal.counters.refused - before.refused, byMethod,
    });
    log(`${label}: ${JSON.stringify(runs.at(-1))}`);
  }
  const companies = portal.companies.rows.size;
  const requisites = portal.requisites.rows.size;
  if (companies !== N || requisites !== N) throw new Error(`the portal holds ${companies} companies and ${requisites} requisites, expected ${N} each`);

  const ceiling = RPS * 50;
  process.stdout.write(`\nCRM sink, ${N} users, portal limit ${RPS} req/s burst ${BURST} (ceiling ${ceiling} commands/s)\n\n`);
  process.stdout.write('| run | seconds | upserts/s | commands/s | commands/upsert | requests | refused |\n|---|---:|---:|---:|---:|---:|---:|\n');
  for (const r of runs) process.stdout.write(`| ${r.run} | ${r.seconds} | ${r.upsertsPerSecond} | ${r.commandsPerSecond} | ${r.commandsPerUpsert} | ${r.requests} | ${r.refused} |\n`);
  for (const r of runs) process.stdout.write(`\n${r.run}: ${JSON.stringify(r.byMethod)}`);
  process.stdout.write(`\n\nportal: ${companies} companies, ${requisites} requisites, no duplicates\n`);
  const out = writeResults('crm', { N, rps: RPS, burst: BURST, batchSize: BATCH, runs }, '');
  log(`written ${path.relative(root, out)}`);
}

async function cleanup() {
  if (child) child.kill('SIGKILL');
  for (const fn of cleanups.reverse()) await Promise.resolve().then(fn).catch((error) => log(`cleanup: ${error.message}`));
  rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });
main().then(cleanup, async (error) => {
  log(error.stack ?? String(error));
  await cleanup();
  process.exit(1);
});
