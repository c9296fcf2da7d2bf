import net from 'node:net';
import tls from 'node:tls';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { ExchangeError } from '../errors.js';
import { maskUrl } from '../config/secrets.js';

export interface ConnectOptions {
  timeoutMs: number;
  heartbeatSeconds: number;
  /** Shown to the broker in the management UI's connection list. */
  connectionName?: string;
  /** Told when a node of the list answered after earlier ones did not (masked URLs, one reason each). */
  onFallback?: (connectedTo: string, refused: string[]) => void;
}

/**
 * Connects to the first node of `urls` that answers, trying them in order, each within `timeoutMs`: the
 * nodes of a cluster listed with the nearest first. One URL is the single-broker case, with its own message.
 */
export async function connectAmqp(urls: string | readonly string[], options: ConnectOptions): Promise<ChannelModel> {
  const list = typeof urls === 'string' ? [urls] : [...urls];
  if (list.length === 0) throw new ExchangeError('CONFIG', 'no RabbitMQ URL to connect to', { hint: 'set amqp.url or amqp.urls' });
  const refused: string[] = [];
  let lastError: unknown;
  for (const url of list) {
    const attempt = await connectOne(url, options);
    if ('connection' in attempt) {
      if (refused.length > 0) options.onFallback?.(maskUrl(url), refused);
      return attempt.connection;
    }
    if (list.length === 1) {
      throw new ExchangeError('AMQP_UNAVAILABLE', `cannot connect to RabbitMQ at ${maskUrl(url)}: ${attempt.reason}`, {
        hint: 'check that RabbitMQ runs and that amqp.url / EXCHANGE_AMQP_URL is right',
        cause: attempt.error,
      });
    }
    refused.push(`${maskUrl(url)}: ${attempt.reason}`);
    lastError = attempt.error;
  }
  throw new ExchangeError('AMQP_UNAVAILABLE', `cannot connect to RabbitMQ: none of the ${list.length} nodes of amqp.urls answered: ${refused.join('; ')}`, {
    hint: 'check that the cluster runs and that amqp.urls / EXCHANGE_AMQP_URLS is right',
    // The reasons are in the message itself, so that the run journal and the summary keep them too.
    cause: lastError,
  });
}

/**
 * One node, with TCP_NODELAY (acks and confirms are small frames; Nagle would hold them back) and a hard
 * deadline: an unreachable broker is a reason within the timeout, never a hang.
 */
async function connectOne(url: string, options: ConnectOptions): Promise<{ connection: ChannelModel } | { error: unknown; reason: string }> {
  const target = new URL(url);
  if (options.heartbeatSeconds > 0 && !target.searchParams.has('heartbeat')) target.searchParams.set('heartbeat', String(options.heartbeatSeconds));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  const attempt = amqp.connect(target.toString(), {
    noDelay: true,
    timeout: options.timeoutMs,
    clientProperties: { connection_name: options.connectionName ?? `exchange ${process.pid}` },
  });
  try {
    const connection = await Promise.race([attempt, deadline]);
    connection.on('error', () => { /* reported through the 'close' of the channels that use it */ });
    // A memory or disk alarm: the broker stops reading this connection once it publishes (connection.blocked).
    connection.on('blocked', (reason: string) => { blockedReasons.set(connection, reason || 'no reason given'); });
    connection.on('unblocked', () => { blockedReasons.delete(connection); });
    return { connection };
  } catch (error) {
    // A connection that opens after the deadline must not keep the process alive.
    attempt.then((late) => late.close().catch(() => undefined), () => undefined);
    return { error, reason: await describeAmqpError(error, target, options.timeoutMs) };
  } finally {
    clearTimeout(timer);
  }
}

const blockedReasons = new WeakMap<ChannelModel, string>();

/** Why the broker blocked the connection ("low on memory", …), while it is blocked. */
export function blockedReason(connection: ChannelModel): string | undefined {
  return blockedReasons.get(connection);
}

const abortedConnections = new WeakSet<ChannelModel>();

/** We dropped this connection ourselves (abortAmqp): a blocked broker, not a lost one. */
export function wasAborted(connection: ChannelModel): boolean {
  return abortedConnections.has(connection);
}

interface SocketInternals { connection?: { stream?: { resetAndDestroy?: () => void; destroy: () => void }; onSocketError?: (error: Error) => void } }

/**
 * Drops the connection with a TCP reset, at once. A blocked broker has not read what we sent; after a
 * FIN (amqplib's close) it would still read and enqueue those publishes when the alarm clears, although
 * we never got their confirms, so a retry of them would be a duplicate. A reset makes the kernel discard
 * them. amqplib does not notice a socket destroyed locally, so it is told as if the socket had failed:
 * its channels close and their pending operations settle.
 */
export function abortAmqp(connection: ChannelModel, reason: string): void {
  abortedConnections.add(connection);
  const internals = (connection as unknown as SocketInternals).connection;
  const stream = internals?.stream;
  if (!stream) return;
  if (typeof stream.resetAndDestroy === 'function') stream.resetAndDestroy();
  else stream.destroy();
  try {
    internals.onSocketError?.(new Error(reason));
  } catch {
    // already closed
  }
}

/** Closes within `timeoutMs`, else aborts: a broker that stopped reading never answers connection.close. */
export async function closeAmqp(connection: ChannelModel, timeoutMs: number): Promise<void> {
  const blocked = blockedReason(connection);
  if (blocked !== undefined) {
    abortAmqp(connection, `closed while RabbitMQ blocked the connection (${blocked})`);
    return;
  }
  if (!(await within(connection.close().then(() => true, () => true), timeoutMs))) abortAmqp(connection, `no answer to connection.close within ${timeoutMs} ms`);
}

/**
 * Closes a channel within `timeoutMs`. A channel of a blocked or lost connection never gets its close-ok,
 * and amqplib leaves such a close pending for good when the connection goes away meanwhile.
 */
export async function closeChannel(channel: Channel, timeoutMs: number): Promise<void> {
  const closed = new Promise<boolean>((resolve) => {
    channel.once('close', () => resolve(true));
    channel.close().then(() => resolve(true), () => resolve(true));
  });
  await within(closed, timeoutMs);
}

/** Whether `promise` settled within `timeoutMs` (one timer, cleared at once). */
async function within(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What went wrong, in the operator's words rather than the protocol's. A server that hangs up during the
 * handshake says nothing about why, so it is asked once more (a bounded probe): an HTTP answer is the
 * management port, a completed TLS handshake is a TLS port spoken to without amqps://.
 */
async function describeAmqpError(error: unknown, target: URL, timeoutMs: number): Promise<string> {
  const err = error as NodeJS.ErrnoException & { errors?: Error[] };
  const message = err.message ?? String(error);
  const where = `${target.hostname}:${target.port || (target.protocol === 'amqps:' ? 5671 : 5672)}`;
  if (err.code === 'ECONNREFUSED') return `connection refused (nothing listens on ${where})`;
  if (err.errors?.length) return err.errors.map((e) => e.message).join('; ');
  // The broker answers connection.open for a vhost it lacks (or the user may not use) with connection.close
  // 530 NOT_ALLOWED; amqplib keeps only the frame's name, so the vhost is the one the URL asked for.
  if (/NOT_ALLOWED - vhost|Expected ConnectionOpenOk; got <ConnectionClose/.test(message)) {
    const vhost = decodeURIComponent(target.pathname.slice(1)) || '/';
    return `the broker refused to open the virtual host "${vhost}" (530 NOT_ALLOWED on connection.open): it does not exist, or the user has no permissions on it; check the path of amqp.url (amqp://host:5672/<vhost>, the default vhost "/" left out or written %2F) and \`rabbitmqctl list_vhosts\``;
  }
  if (/ACCESS_REFUSED|403/.test(message)) return 'access refused (check the user name and password)';
  // The probes are short: a silent server must not cost a cron job much more than amqp.connectTimeoutMs.
  const budget = Math.max(200, Math.min(1000, Math.floor(timeoutMs / 4)));
  if (/^no answer within|ETIMEDOUT/.test(message) && target.protocol === 'amqp:' && (await plainAnswer(target, budget)) === 'http') {
    // RabbitMQ's management listener sometimes just waits on an AMQP header instead of closing.
    return `${where} is an HTTP server, not AMQP: the management port (15672 by default) by mistake? AMQP listens on 5672 by default`;
  }
  if (isTlsMismatch(err)) {
    const speaks = await plainAnswer(target, budget);
    if (speaks === 'http') return `${where} is an HTTP server, not AMQP over TLS: the management port (15672 by default) by mistake? AMQP over TLS listens on 5671 by default`;
    return `amqps:// against a plain port: ${where} does not speak TLS (the TLS handshake failed: ${tlsReason(message)}); use amqp:// for this port, or the broker's TLS port (5671 by default)`;
  }
  if (/closed abruptly during opening handshake|frame|Expected ConnectionStart/i.test(message) && target.protocol === 'amqp:') {
    if ((await plainAnswer(target, budget)) === 'http') return `${where} is an HTTP server, not AMQP: the management port (15672 by default) by mistake? AMQP listens on 5672 by default`;
    if (await speaksTls(target, budget)) return `${where} speaks TLS and closed the connection without an answer: use amqps:// for a TLS port`;
    return `${where} closed the connection without answering the AMQP greeting: a TLS port (then use amqps://), a proxy, or a service other than RabbitMQ`;
  }
  return message || String(error);
}

function isTlsMismatch(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPROTO' || (typeof err.code === 'string' && err.code.startsWith('ERR_SSL_')) || /wrong version number|packet length too long|unknown protocol/.test(err.message ?? '');
}

function tlsReason(message: string): string {
  return /ssl3_get_record:([^:]+)/.exec(message)?.[1] ?? message.split('\n')[0];
}

/**
 * Asks the port a plain HTTP question and looks at the first bytes of the answer: `HTTP/` is a web server
 * (RabbitMQ's management listener closes on an AMQP header without a word, but answers this), `AMQP` is a
 * broker refusing the request line with its protocol header.
 */
function plainAnswer(target: URL, timeoutMs: number): Promise<'http' | 'amqp' | 'other' | 'none'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.hostname, port: Number(target.port || 5672) });
    const done = (answer: 'http' | 'amqp' | 'other' | 'none') => { socket.destroy(); clearTimeout(timer); resolve(answer); };
    const timer = setTimeout(() => done('none'), timeoutMs);
    socket.on('connect', () => socket.write(`GET / HTTP/1.0\r\nHost: ${target.hostname}\r\n\r\n`));
    socket.once('data', (chunk: Buffer) => {
      const text = chunk.subarray(0, 5).toString('latin1');
      done(text.startsWith('HTTP/') ? 'http' : text.startsWith('AMQP') || chunk[0] === 1 ? 'amqp' : 'other');
    });
    socket.on('error', () => done('none'));
    socket.on('close', () => done('none'));
  });
}

/** Whether a TLS handshake completes on the port (the certificate is not judged: this only asks what it speaks). */
function speaksTls(target: URL, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: target.hostname, port: Number(target.port || 5672), rejectUnauthorized: false, servername: net.isIP(target.hostname) ? undefined : target.hostname });
    const done = (answer: boolean) => { socket.destroy(); clearTimeout(timer); resolve(answer); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('secureConnect', () => done(true));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}
