import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { ExchangeError } from '../errors.js';
import { maskUrl } from '../config/secrets.js';

export interface ConnectOptions {
  timeoutMs: number;
  heartbeatSeconds: number;
  /** Shown to the broker in the management UI's connection list. */
  connectionName?: string;
}

/**
 * Connects with TCP_NODELAY (acks and confirms are small frames; Nagle would hold them back)
 * and a hard deadline: an unreachable broker is exit 69 within the timeout, never a hang.
 */
export async function connectAmqp(url: string, options: ConnectOptions): Promise<ChannelModel> {
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
    return connection;
  } catch (error) {
    // A connection that opens after the deadline must not keep the process alive.
    attempt.then((late) => late.close().catch(() => undefined), () => undefined);
    throw new ExchangeError('AMQP_UNAVAILABLE', `cannot connect to RabbitMQ at ${maskUrl(url)}: ${describeAmqpError(error)}`, {
      hint: 'check that RabbitMQ runs and that amqp.url / EXCHANGE_AMQP_URL is right',
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

const blockedReasons = new WeakMap<ChannelModel, string>();

/** Why the broker blocked the connection ("low on memory", …), while it is blocked. */
export function blockedReason(connection: ChannelModel): string | undefined {
  return blockedReasons.get(connection);
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

function describeAmqpError(error: unknown): string {
  const err = error as NodeJS.ErrnoException & { errors?: Error[] };
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.errors?.length) return err.errors.map((e) => e.message).join('; ');
  if (/ACCESS_REFUSED|403/.test(err.message ?? '')) return 'access refused (check the user name and password)';
  return err.message || String(error);
}
