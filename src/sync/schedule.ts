import { lazyModule } from '../lazy-module.js';

// Loaded on the first cron expression: the config schema imports this module on every command, drains included.
const cronParser = lazyModule<typeof import('cron-parser')>('cron-parser');
const cron = () => cronParser().CronExpressionParser;

/**
 * When a sync is due (DESIGN §10). `exchange sync` runs from cron every minute; each sync's own `schedule`
 * decides whether this run is its turn:
 * - a cron expression (5 fields, read in the machine's time zone, as cron itself reads the crontab) is due when
 *   an occurrence has passed since the last run started;
 * - an interval (`30s`, `15m`, `1h`, `1d`) is due once per slot of that length counted from the Unix epoch (UTC),
 *   so a cron line firing at a minute's start never misses a `1m` slot by the half second a start may drift.
 * A sync that never ran is due.
 */
export type Schedule =
  | { kind: 'cron'; expression: string }
  | { kind: 'interval'; ms: number };

const intervalUnits: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const intervalPattern = /^(\d+)(s|m|h|d)$/;

/** The schedule, or the reason it is not one (a config problem line). */
export function parseSchedule(text: string): Schedule | { error: string } {
  const trimmed = text.trim();
  const interval = intervalPattern.exec(trimmed);
  if (interval) {
    const ms = Number(interval[1]) * intervalUnits[interval[2]];
    if (ms <= 0) return { error: 'an interval must be longer than 0' };
    return { kind: 'interval', ms };
  }
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) {
    return { error: `"${text}" is neither an interval (30s, 15m, 1h, 1d) nor a cron expression of 5 fields (minute hour day month weekday)` };
  }
  try {
    cron().parse(trimmed, { tz: localZone() });
  } catch (error) {
    return { error: `"${text}" is not a valid cron expression: ${(error as Error).message}` };
  }
  return { kind: 'cron', expression: trimmed };
}

export function isSchedule(text: string): boolean {
  return !('error' in parseSchedule(text));
}

/** The earliest time the sync is due after a run that started at `lastRunAt`; null when it never ran (due now). */
export function nextRunAfter(schedule: Schedule, lastRunAt: Date | null): Date | null {
  if (!lastRunAt) return null;
  if (schedule.kind === 'interval') return new Date((Math.floor(lastRunAt.getTime() / schedule.ms) + 1) * schedule.ms);
  return cron().parse(schedule.expression, { currentDate: lastRunAt, tz: localZone() }).next().toDate();
}

export function isDue(schedule: Schedule, lastRunAt: Date | null, now: Date): boolean {
  const next = nextRunAfter(schedule, lastRunAt);
  return next === null || next.getTime() <= now.getTime();
}

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
