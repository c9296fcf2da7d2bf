import { afterEach, describe, expect, it, vi } from 'vitest';
import { printError, type OutputMode } from '../../src/cli/output.js';
import { registerSecret } from '../../src/config/secrets.js';
import { ExchangeError } from '../../src/errors.js';

/*
 * Defect 10 (last item): `--verbose` printed error stacks without masking. Every line printError writes
 * (message, details, hint, stack, causes) goes through maskSecrets.
 */
const verbose: OutputMode = { json: false, quiet: false, verbose: true, tty: false };

function capture(run: () => void): string {
  let written = '';
  const sink = (chunk: string | Uint8Array) => { written += String(chunk); return true; };
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(sink as typeof process.stderr.write);
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(sink as typeof process.stdout.write);
  try {
    run();
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
  return written;
}

afterEach(() => vi.restoreAllMocks());

describe('printError --verbose masks every line', () => {
  it('masks the password of a URL in the stack of an unexpected error', () => {
    const error = new TypeError('cannot reach amqp://guest:s3cr3t@127.0.0.1:1/');
    const text = capture(() => printError(verbose, error, 70));
    expect(text).not.toContain('s3cr3t');
    // The stack is still there, masked: its first line, and the frames under it.
    expect(text).toContain('TypeError: cannot reach amqp://guest:***@127.0.0.1:1/');
    expect(text).toMatch(/\n\s+at /);
  });

  it('prints the causes of an ExchangeError with their stacks, masked, secrets registered from the config included', () => {
    registerSecret('k33pHidden');
    const root = new Error('login refused for token k33pHidden at postgres://app:s3cr3t@db:5432/x');
    const middle = new Error('handshake failed: amqp://guest:s3cr3t@127.0.0.1:1', { cause: root });
    const error = new ExchangeError('AMQP_UNAVAILABLE', 'cannot connect to RabbitMQ at amqp://guest:s3cr3t@127.0.0.1:1', {
      hint: 'check amqp://guest:s3cr3t@127.0.0.1:1', details: ['url: amqp://guest:s3cr3t@127.0.0.1:1'], cause: middle,
    });
    const text = capture(() => printError(verbose, error, 69));
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('k33pHidden');
    expect(text).toContain('exchange: cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1');
    expect(text).toContain('caused by: Error: handshake failed: amqp://guest:***@127.0.0.1:1');
    expect(text).toContain('caused by: Error: login refused for token *** at postgres://app:***@db:5432/x');
    // The same with --json: the JSON line and the stderr lines alike.
    const json = capture(() => printError({ ...verbose, json: true }, error, 69));
    expect(json).not.toContain('s3cr3t');
    expect(json).toContain('caused by: Error: handshake failed');
  });

  it('without --verbose prints no stack and no causes', () => {
    const error = new ExchangeError('AMQP_UNAVAILABLE', 'cannot connect', { cause: new Error('inner detail') });
    const text = capture(() => printError({ ...verbose, verbose: false }, error, 69));
    expect(text).toBe('exchange: cannot connect\n');
  });
});
