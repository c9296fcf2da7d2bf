import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ExchangeError, exitCodeOf } from '../../src/errors.js';
import { emptyCounts, exitCodeForCounts } from '../../src/jobs/summary.js';

describe('exit codes (DESIGN §3)', () => {
  it('maps every error code to its sysexits value', () => {
    expect(exitCodeOf(new ExchangeError('USAGE', 'x'))).toBe(64);
    expect(exitCodeOf(new ExchangeError('BAD_INPUT', 'x'))).toBe(65);
    expect(exitCodeOf(new ExchangeError('AMQP_UNAVAILABLE', 'x'))).toBe(69);
    expect(exitCodeOf(new ExchangeError('RECORD_STORE_UNAVAILABLE', 'x'))).toBe(69);
    expect(exitCodeOf(new ExchangeError('SINK_UNAVAILABLE', 'x'))).toBe(69);
    expect(exitCodeOf(new ExchangeError('LOCKED', 'x'))).toBe(75);
    expect(exitCodeOf(new ExchangeError('CONFIG', 'x'))).toBe(78);
    expect(exitCodeOf(new ExchangeError('TOPOLOGY_MISMATCH', 'x'))).toBe(78);
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x'))).toBe(64);
    expect(exitCodeOf(new TypeError('a bug'))).toBe(70);
  });

  it('is 1 when anything was retried or dead-lettered, 0 otherwise (an empty queue included)', () => {
    expect(exitCodeForCounts(emptyCounts())).toBe(0);
    expect(exitCodeForCounts({ ...emptyCounts(), read: 5, written: 3, stale: 2 })).toBe(0);
    expect(exitCodeForCounts({ ...emptyCounts(), retried: 1 })).toBe(1);
    expect(exitCodeForCounts({ ...emptyCounts(), deadLettered: 1 })).toBe(1);
  });

  it('keeps the cause and the hint', () => {
    const cause = new Error('ECONNREFUSED');
    const error = new ExchangeError('AMQP_UNAVAILABLE', 'cannot connect', { hint: 'start RabbitMQ', cause });
    expect(error.cause).toBe(cause);
    expect(error.hint).toBe('start RabbitMQ');
  });
});
