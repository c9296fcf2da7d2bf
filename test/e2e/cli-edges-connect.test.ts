import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { tempWorkdir } from '../support/envelopes.js';
import { amqpUrl, managementUrl, uniqueName } from '../support/services.js';

/** Connection errors name the likely cause (issue 10), each against a real listener on this machine. */
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => { for (const cleanup of cleanups.splice(0)) await cleanup(); });

async function connectWith(url: string) {
  const work = tempWorkdir({ amqp: { connectTimeoutMs: 5000 } });
  cleanups.push(() => work.remove());
  const result = await runCli(['setup', '--check'], { cwd: work.dir, env: { EXCHANGE_AMQP_URL: url, EXCHANGE_TENANT: uniqueName('t') } });
  expect(result.code).toBe(69);
  return result.stderr.split('\n')[0];
}

const broker = new URL(amqpUrl);
const credentials = `${broker.username}:${broker.password}`;

describe('connection errors', () => {
  it('a virtual host that does not exist', async () => {
    const vhost = uniqueName('no-such-vhost-');
    const line = await connectWith(`amqp://${credentials}@${broker.host}/${vhost}`);
    expect(line).toContain(`the broker refused to open the virtual host "${vhost}" (530 NOT_ALLOWED on connection.open): it does not exist, or the user has no permissions on it`);
  });

  it('amqps:// against the plain AMQP port', async () => {
    const line = await connectWith(`amqps://${credentials}@${broker.host}`);
    expect(line).toContain(`amqps:// against a plain port: ${broker.host} does not speak TLS`);
    expect(line).toContain('wrong version number');
  });

  it('the management port by mistake', async () => {
    const management = new URL(managementUrl);
    const line = await connectWith(`amqp://${credentials}@${management.host}`);
    expect(line).toContain(`${management.host} is an HTTP server, not AMQP: the management port (15672 by default) by mistake?`);
  });

  it('amqp:// against a TLS port (a TLS server that hangs up on plain bytes)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exchange-tls-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    const server = tls.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (socket) => socket.end());
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const line = await connectWith(`amqp://${credentials}@127.0.0.1:${port}`);
    expect(line).toContain(`127.0.0.1:${port} speaks TLS and closed the connection without an answer: use amqps:// for a TLS port`);
  });
});
