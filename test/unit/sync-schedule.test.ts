import { describe, expect, it } from 'vitest';
import { isDue, nextRunAfter, parseSchedule, type Schedule } from '../../src/sync/schedule.js';

const schedule = (text: string) => parseSchedule(text) as Schedule;

describe('sync schedules (DESIGN §10)', () => {
  it('reads intervals and 5-field cron expressions, and says what is wrong with anything else', () => {
    expect(parseSchedule('15m')).toEqual({ kind: 'interval', ms: 900_000 });
    expect(parseSchedule('30s')).toEqual({ kind: 'interval', ms: 30_000 });
    expect(parseSchedule('1d')).toEqual({ kind: 'interval', ms: 86_400_000 });
    expect(parseSchedule('0 9 * * 1-5')).toEqual({ kind: 'cron', expression: '0 9 * * 1-5' });
    expect(parseSchedule('0m')).toEqual({ error: 'an interval must be longer than 0' });
    expect((parseSchedule('61 * * * *') as { error: string }).error).toMatch(/not a valid cron expression/);
    expect((parseSchedule('* * * * * *') as { error: string }).error).toMatch(/5 fields/);
    expect((parseSchedule('hourly') as { error: string }).error).toMatch(/neither an interval/);
  });

  it('a sync that never ran is due; an interval is due once per slot counted from the epoch', () => {
    expect(isDue(schedule('1h'), null, new Date('2026-03-02T10:00:00Z'))).toBe(true);
    const last = new Date('2026-03-02T10:00:00.800Z');
    expect(nextRunAfter(schedule('1m'), last)?.toISOString()).toBe('2026-03-02T10:01:00.000Z');
    // cron fires at the minute's start; the run starts a little late, the next a little early: still due.
    expect(isDue(schedule('1m'), last, new Date('2026-03-02T10:01:00.300Z'))).toBe(true);
    expect(isDue(schedule('1m'), last, new Date('2026-03-02T10:00:59.000Z'))).toBe(false);
    expect(isDue(schedule('1d'), last, new Date('2026-03-02T23:59:59.000Z'))).toBe(false);
    expect(isDue(schedule('1d'), last, new Date('2026-03-03T00:00:00.000Z'))).toBe(true);
  });

  it('a cron expression is due when an occurrence has passed since the last run started', () => {
    const every5 = schedule('*/5 * * * *');
    const last = new Date('2026-03-02T10:05:00.500Z');
    expect(nextRunAfter(every5, last)?.toISOString()).toBe('2026-03-02T10:10:00.000Z');
    expect(isDue(every5, last, new Date('2026-03-02T10:09:59.000Z'))).toBe(false);
    expect(isDue(every5, last, new Date('2026-03-02T10:10:00.200Z'))).toBe(true);
    expect(isDue(schedule('0 0 1 1 *'), new Date('2026-03-02T10:00:00Z'), new Date('2026-12-31T00:00:00Z'))).toBe(false);
  });
});
