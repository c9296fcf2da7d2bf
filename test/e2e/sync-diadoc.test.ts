import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { DiadocServer, startDiadocServer, ticksOf, type BoxEventInput } from '../support/diadoc-server.js';

const ourBox = '4f2b3c1d-0a9e-4e7f-8b6a-1c2d3e4f5a6b';
const theirBox = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const apiClientId = 'e2eClient-3c1f2a9b8d7e4f60a1b2c3d4e5f60718';
const token = 'E2eT0ken/With+Base64Chars==';

const dirs: string[] = [];
const servers: DiadocServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function diadoc(): Promise<DiadocServer> {
  const server = await startDiadocServer({ apiClientId, tokens: { [token]: [ourBox] } });
  servers.push(server);
  return server;
}

function workdir(config: unknown): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-diadoc-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, '.exchangerc.json'), JSON.stringify(config, null, 2));
  return { dir, env: { EXCHANGE_TENANT: `diadoc-e2e-${path.basename(dir)}`, EXCHANGE_RECORD_STORE: `sqlite:${path.join(dir, 'store.db')}` } };
}

function events(count: number, from = 0): BoxEventInput[] {
  return Array.from({ length: count }, (_, i) => {
    const id = String(from + i).padStart(12, '0');
    return {
      EventId: `e${id.slice(0, 7)}-0000-4000-8000-${id}`,
      Message: {
        MessageId: `m${id.slice(0, 7)}-0000-4000-8000-${id}`,
        TimestampTicks: ticksOf('2026-02-01T08:00:00.000Z') + BigInt(from + i) * 10_000_000n,
        LastPatchTimestampTicks: ticksOf('2026-02-01T08:00:00.000Z') + BigInt(from + i) * 10_000_000n,
        FromBoxId: theirBox,
        FromTitle: 'ООО «Поставщик»',
        ToBoxId: ourBox,
        ToTitle: 'ООО «Покупатель»',
        MessageType: 'Letter',
        Entities: [{ EntityType: 'Attachment', EntityId: `d${id.slice(0, 7)}-0000-4000-8000-${id}`, AttachmentType: 'Nonformalized', FileName: `letter-${from + i}.pdf` }],
      },
    };
  });
}

describe('diadoc-events through the CLI', () => {
  it('`exchange config` shows the sync with its credentials masked', async () => {
    const server = await diadoc();
    const { dir, env } = workdir({
      syncs: { edi: { provider: 'diadoc-events', schedule: '*/5 * * * *', settings: { url: server.url, boxId: ourBox, apiClientId, token } } },
    });
    const result = await runCli(['config', '--json'], { cwd: dir, env });
    expect(result.code).toBe(0);
    const config = result.json.find((event) => event.event === 'config')!.config as { syncs: Record<string, { settings: Record<string, unknown> }> };
    expect(config.syncs.edi.settings).toEqual({ url: server.url, boxId: ourBox, apiClientId: '***', token: '***', pageSize: 100, timeoutMs: 30_000 });
    expect(result.stdout + result.stderr).not.toContain(token);
    expect(result.stdout + result.stderr).not.toContain(apiClientId);
  });

  it('bad settings are exit 78 naming syncs.<name>.settings.<key>', async () => {
    const { dir, env } = workdir({
      syncs: { edi: { provider: 'diadoc-events', schedule: '15m', settings: { boxId: 'not-a-guid', apiClientId, token, pageSize: 500 } } },
    });
    const result = await runCli(['config'], { cwd: dir, env });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('syncs.edi.settings.boxId: the box id as a GUID (BoxIdGuid in GetMyOrganizations)');
    expect(result.stderr).toContain('syncs.edi.settings.pageSize:');
    expect(result.stderr).not.toContain(token);
  });
});
