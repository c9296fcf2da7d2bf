#!/usr/bin/env node
// Bundles the CLI for start-up speed: `bin/exchange.js` runs dist/bundle/main.js.
//
// Why: a cron job starts the tool every minute, and a drain's wall clock counts from the spawn. Node resolves
// and compiles every ES module file on its own; the unbundled CLI loads about 160 files before it parses its
// arguments, 95 of them zod's (its entry point re-exports 64 locales we never use). One bundle with code
// splitting (each command's job stays a lazily loaded chunk) cut `exchange user` on an empty queue from about
// 450-510 ms to about 380 ms on the 2-core bench machine (docs/benchmarks.md).
//
// What is bundled: our code and the few small, pure-JS dependencies every command loads before its first
// message (zod, commander, chalk, amqplib). Everything else stays in node_modules and is loaded as before:
// native better-sqlite3, and the large or rarely used ones (pg, the Elasticsearch client, cosmiconfig,
// prom-client, cli-progress, the 1C readers' parsers), most of them loaded on first use only.
// `tsc -p .` still emits dist/ file by file (type-checked; the benchmarks import single modules from it).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const bundled = new Set(['zod', 'commander', 'chalk', 'amqplib']);
const external = Object.keys(pkg.dependencies).filter((name) => !bundled.has(name));
const outdir = path.join(root, 'dist', 'bundle');

fs.rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'src', 'cli', 'main.ts')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // dist/bundle/ is as deep as dist/cli/: the paths our modules take from import.meta.url (package.json,
  // fixtures/demo) resolve alike from both.
  external: [...external, ...external.map((name) => `${name}/*`), 'pg-native'],
  // amqplib is CommonJS and requires Node's modules: an ES bundle needs a `require` of its own for that.
  banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
