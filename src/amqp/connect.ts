import amqp, { type ChannelModel } from 'amqplib';
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

function describeAmqpError(error: unknown): string {
  const err = error as NodeJS.ErrnoException & { errors?: Error[] };
  if (err.code === 'ECONNREFUSED') return 'connection refused';
  if (err.errors?.length) return err.errors.map((e) => e.message).join('; ');
  if (/ACCESS_REFUSED|403/.test(err.message ?? '')) return 'access refused (check the user name and password)';
  return err.message || String(error);
}
