import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCatalog } from '../support/catalog-file.js';
import { runCli } from '../support/cli.js';

/**
 * DESIGN §9: "Files are streamed: memory stays flat however large the file". Measured from outside: the peak
 * resident set (VmHWM, which only grows) of the child process, polled from /proc while it runs. A reader that
 * held the file (150 MB of UTF-8, twice that as a JS string) or its 80 000 records would pass 250 MB, and its
 * peak would grow with the file; a streaming one peaks near the same value for a file five times smaller.
 */
const MiB = 1024 * 1024;
let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-memory-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function peakRssOfDryRun(file: string): Promise<{ peakBytes: number; read: number }> {
  let pid = 0;
  let peakKb = 0;
  const sample = () => {
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) peakKb = Math.max(peakKb, Number(match[1]));
    } catch {
      // The process has just exited: its last sample stands.
    }
  };
  const poller = setInterval(() => { if (pid) sample(); }, 20);
  try {
    const result = await runCli(['import', 'product', file, '--dry-run', '--json'], {
      cwd: dir, env: { EXCHANGE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, timeoutMs: 60_000, onSpawn: (p) => { pid = p; },
    });
    expect(result.code, result.stderr).toBe(0);
    return { peakBytes: peakKb * 1024, read: result.summary!.read as number };
  } finally {
    clearInterval(poller);
  }
}

describe('streaming a large CommerceML file (DESIGN §9)', () => {
  it('keeps the peak memory of `import --dry-run` under 250 MB for a 150 MB catalog, and flat against a 30 MB one', async () => {
    const large = path.join(dir, 'large.xml');
    const small = path.join(dir, 'small.xml');
    const largeFile = await writeCatalog(large, 80_000);
    const smallFile = await writeCatalog(small, 16_000);
    expect(largeFile.bytes).toBeGreaterThan(140 * MiB);
    // Every product was read, as many as the generator wrote.
    const bigRun = await peakRssOfDryRun(large);
    expect(bigRun.read).toBe(80_000);
    expect(largeFile.products).toBe(80_000);
    const smallRun = await peakRssOfDryRun(small);
    expect(smallRun.read).toBe(16_000);
    expect(smallFile.products).toBe(16_000);
    expect(bigRun.peakBytes).toBeGreaterThan(20 * MiB); // the sampling saw the process at all
    expect(bigRun.peakBytes).toBeLessThan(250 * MiB);
    // Five times the file, not five times the memory: less than half a byte of growth per byte of file.
    expect(bigRun.peakBytes - smallRun.peakBytes).toBeLessThan((largeFile.bytes - smallFile.bytes) / 2);
  }, 120_000);
});
