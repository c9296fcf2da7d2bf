import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Breaking the machine's shared services on purpose, and always putting them back. Every helper that breaks
 * something has a matching restore, and `withBrokerStopped`/`withMemoryAlarm` restore in `finally`, so a failed
 * assertion never leaves the broker down or alarmed for the next test (or for CI right after).
 */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

export function amqpPortOpen(port = 5672): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function stopBrokerApp(): Promise<void> {
  await rabbitmqctl('stop_app');
}

/** Starts the app (idempotent) and waits until it takes AMQP connections again. */
export async function startBrokerApp(): Promise<void> {
  await rabbitmqctl('start_app');
  await rabbitmqctl('await_startup');
  await waitFor('RabbitMQ to accept connections', () => amqpPortOpen(), 60_000);
}

export async function withBrokerStopped<T>(work: () => Promise<T>): Promise<T> {
  try {
    await stopBrokerApp();
    return await work();
  } finally {
    await startBrokerApp();
  }
}

export async function memoryWatermark(): Promise<string> {
  return (await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().')).trim().split('\n').pop()!.trim();
}

/** A memory alarm: the broker blocks every publishing connection until the watermark is put back. */
export async function raiseMemoryAlarm(): Promise<() => Promise<void>> {
  const before = await memoryWatermark();
  const restore = async () => { await rabbitmqctl('set_vm_memory_high_watermark', /^[\d.]+$/.test(before) ? before : '0.4'); };
  try {
    await rabbitmqctl('set_vm_memory_high_watermark', '0.000001');
    await waitFor('the memory alarm', async () => /memory/.test(await rabbitmqctl('eval', 'rabbit_alarm:get_alarms().')), 20_000, 200);
  } catch (error) {
    await restore();
    throw error;
  }
  return restore;
}

export async function withMemoryAlarm<T>(work: () => Promise<T>): Promise<T> {
  const restore = await raiseMemoryAlarm();
  try {
    return await work();
  } finally {
    await restore();
    await waitFor('the memory alarm to clear', async () => !/memory/.test(await rabbitmqctl('eval', 'rabbit_alarm:get_alarms().')), 30_000, 200);
  }
}
