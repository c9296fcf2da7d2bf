// npm run check:install (run by .ci/run after the tests): installs the package the way a server gets it, from
// `npm pack`'s tarball into a throwaway global prefix, and runs the installed `exchange` outside the clone. It
// proves the tarball holds what the command needs (bin, dist, its dependencies, a working better-sqlite3)
// and that the command on the PATH is ours, not the unrelated npm package named `exchange`. It takes minutes
// (better-sqlite3 is compiled when no prebuilt binary is at hand), which is why it is not in `npm test`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-install-'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function fail(message) {
  process.stderr.write(`check:install: ${message}\n`);
  process.exitCode = 1;
}

function exchange(bin, args, cwd) {
  const result = spawnSync(bin, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** `npx exchange` outside the clone fetched the registry's `exchange`: the name must not be someone else's there. */
function checkNameIsOurs() {
  const view = spawnSync(npm, ['view', pkg.name, 'name'], { encoding: 'utf8' });
  if (view.status === 0) fail(`"${pkg.name}" is a package on the npm registry already (${view.stdout.trim()}): npx and npm install would fetch it, not this one`);
  else if (!/E404|404 Not Found/.test(view.stderr)) process.stderr.write(`check:install: could not ask the registry about "${pkg.name}" (offline?): ${view.stderr.split('\n')[0]}\n`);
}

try {
  const started = Date.now();
  checkNameIsOurs();
  execFileSync(npm, ['pack', '--silent', '--pack-destination', temp], { cwd: root, stdio: ['ignore', 2, 2] });
  const tarball = fs.readdirSync(temp).find((name) => name.endsWith('.tgz'));
  if (tarball !== `${pkg.name}-${pkg.version}.tgz`) throw new Error(`npm pack wrote ${tarball ?? 'nothing'}, expected ${pkg.name}-${pkg.version}.tgz`);

  const prefix = path.join(temp, 'prefix');
  // better-sqlite3's install step fetches or compiles its native binding; npm 11 asks for it to be allowed.
  execFileSync(npm, ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--allow-scripts=better-sqlite3', path.join(temp, tarball)], { stdio: ['ignore', 2, 2] });
  const bin = path.join(prefix, 'bin', 'exchange');
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: package.json "bin" must name the command exchange`);

  // A working folder outside the clone, as cron has: the embedded store is created in it.
  const work = path.join(temp, 'work');
  fs.mkdirSync(work);
  const version = exchange(bin, ['--version'], work);
  if (version.code !== 0 || version.stdout.trim() !== pkg.version) fail(`exchange --version: exit ${version.code}, printed ${JSON.stringify(version.stdout)} (expected ${pkg.version})\n${version.stderr}`);
  const count = exchange(bin, ['records', 'count', 'user'], work);
  if (count.code !== 0 || count.stdout !== '0\n') fail(`exchange records count user in an empty folder: exit ${count.code}, printed ${JSON.stringify(count.stdout)} (expected 0)\n${count.stderr}`);
  if (!fs.existsSync(path.join(work, 'exchange.db'))) fail('the embedded store was not created in the working folder');
  if (!process.exitCode) process.stdout.write(`check:install: ${tarball} installed into a temporary prefix, ${bin} --version = ${pkg.version}, store in the working folder (${Math.round((Date.now() - started) / 1000)} s)\n`);
} catch (error) {
  fail(error.message);
} finally {
  fs.rmSync(temp, { recursive: true, force: true });
}
