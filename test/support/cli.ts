import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const binPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/exchange.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout lines that are JSON objects. */
  json: Array<Record<string, unknown>>;
  /** The last `summary` event, if any. */
  summary?: Record<string, unknown>;
}

/** Runs the built binary, as cron would: no terminal, its own environment. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid) options.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`exchange ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // A human table or pretty-printed JSON may start a line with "{" too: only whole JSON lines count.
      const json = stdout.split('\n').filter((line) => line.startsWith('{')).flatMap((line) => {
        try { return [JSON.parse(line) as Record<string, unknown>]; } catch { return []; }
      });
      resolve({ code, stdout, stderr, json, summary: [...json].reverse().find((event) => event.event === 'summary') });
    });
  });
}
