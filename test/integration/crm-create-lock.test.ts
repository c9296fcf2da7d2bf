import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openRecordStore } from '../../src/recordstore/open-record-store.js';
import { withCreateLock } from '../../src/sinks/crm/create-lock.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); });

describe('the CRM create lock', () => {
  it('is renewed while held: a competing consumer cannot take it during work that outlasts one hold (an OPERATION_TIME_LIMIT wait)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-crm-lock-'));
    const store = await openRecordStore(`sqlite:${path.join(dir, 'store.db')}`);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }), () => store.close());
    const warnings: string[] = [];
    let competitorTook = 0;
    let tries = 0;
    const result = await withCreateLock(store, 'product', async () => {
      // Work three holds long; a competitor keeps trying, as another consumer's first-time path would.
      const until = Date.now() + 1200;
      while (Date.now() < until) {
        tries++;
        if (await store.tryLock('crm-create:product', 400, 'competitor')) competitorTook++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return 'created';
    }, { holdForMs: 400, warn: (message) => warnings.push(message) });
    expect(result).toBe('created');
    expect(tries).toBeGreaterThan(20);
    expect(competitorTook).toBe(0);
    expect(warnings).toEqual([]);
    // Released at the end: the competitor gets it at once.
    expect(await store.tryLock('crm-create:product', 400, 'competitor')).toBe(true);
  });
});
