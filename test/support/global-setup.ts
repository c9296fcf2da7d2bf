import { randomBytes } from 'node:crypto';
import { managementUrl } from './services.js';

/**
 * One run of a suite marks every name it makes (`uniqueName` puts this token in) and, when it ends, deletes
 * whatever queues and exchanges with the mark are still on the broker. A test that forgets a route of another
 * type, or dies before its own cleanup, would otherwise leave quorum queues on the shared broker run after run
 * (seen: 108 after one `npm test`), each a Raft member the broker keeps alive.
 */
export default function setup(): () => Promise<void> {
  const token = `z${randomBytes(3).toString('hex')}`;
  process.env.EXCHANGE_TEST_RUN = token;
  return () => deleteMarked(token);
}

async function deleteMarked(token: string): Promise<void> {
  const url = new URL(managementUrl);
  const headers = { authorization: `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` };
  const api = `${url.protocol}//${url.host}/api`;
  let removed = 0;
  try {
    for (const kind of ['queues', 'exchanges'] as const) {
      const response = await fetch(`${api}/${kind}?columns=name,vhost`, { headers, signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`GET /api/${kind}: HTTP ${response.status}`);
      const items = (await response.json()) as Array<{ name: string; vhost: string }>;
      for (const item of items.filter((candidate) => candidate.name.includes(token))) {
        const target = `${api}/${kind}/${encodeURIComponent(item.vhost)}/${encodeURIComponent(item.name)}`;
        const deleted = await fetch(target, { method: 'DELETE', headers, signal: AbortSignal.timeout(10_000) });
        if (deleted.ok || deleted.status === 404) removed++;
      }
    }
  } catch (error) {
    process.stderr.write(`test teardown: could not remove this run's leftover queues (${(error as Error).message})\n`);
    return;
  }
  if (removed > 0) process.stderr.write(`test teardown: removed ${removed} queues and exchanges this run's tests left behind\n`);
}
