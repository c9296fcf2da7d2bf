import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EntityType } from '../../src/messages/entity-types.js';

export function userEnvelope(id: string, overrides: { version?: string; name?: string; op?: 'upsert' | 'delete' } = {}) {
  return {
    type: 'user' as EntityType,
    op: overrides.op ?? 'upsert',
    id,
    version: overrides.version ?? '2026-11-22T10:15:00.000Z',
    source: 'test',
    occurredAt: '2026-11-22T10:15:03.120Z',
    data: { name: overrides.name ?? `ООО «Контрагент ${id}»`, inn: '7707083893', kpp: '770701001' },
  };
}

export function userBodies(ids: string[]): string[] {
  return ids.map((id) => JSON.stringify(userEnvelope(id)));
}

/** A throw-away working folder with an .exchangerc.json, removed by the returned function. */
export function tempWorkdir(config: Record<string, unknown> = {}): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-test-'));
  fs.writeFileSync(path.join(dir, '.exchangerc.json'), JSON.stringify(config, null, 2));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
