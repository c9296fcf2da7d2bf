import { describe, expect, it } from 'vitest';
import {
  OneCValueError, compact, isKnownTimeZone, list, parseOneCBoolean, parseOneCDate, parseOneCNumber, parseOneCVersion, text,
} from '../../../src/onec/one-c-values.js';

/** The message of what `run` throws, and that it is a OneCValueError (the readers add file, line and column to it). */
function valueError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(OneCValueError);
    expect((error as Error).name).toBe('OneCValueError');
    return (error as Error).message;
  }
  throw new Error('no error thrown');
}

describe('text and list: the shapes fast-xml-parser gives', () => {
  it('text is the trimmed leaf, the first of several, or an element\'s #text; empty is nothing', () => {
    expect(text('  Стол  ')).toBe('Стол');
    expect(text(42)).toBe('42');
    expect(text(['first', 'second'])).toBe('first');
    expect(text({ '#text': ' шт ', '@Код': '796' })).toBe('шт');
    expect(text({ '@Код': '796' })).toBeUndefined();
    expect(text('')).toBeUndefined();
    expect(text('   ')).toBeUndefined();
    expect(text([])).toBeUndefined();
    expect(text(undefined)).toBeUndefined();
    expect(text(null)).toBeUndefined();
  });

  it('list makes one child an array of one and nothing an empty array', () => {
    const one = { Ид: '1' };
    const several = [{ Ид: '1' }, { Ид: '2' }];
    expect(list(one)).toEqual([one]);
    expect(list(several)).toBe(several);
    expect(list(undefined)).toEqual([]);
    expect(list(null)).toEqual([]);
    expect(list('')).toEqual([]);
    expect(list('x')).toEqual(['x']);
  });

  it('compact drops undefined fields only, in place', () => {
    const object = { a: undefined, b: null, c: 0, d: false, e: '' };
    const result = compact(object);
    expect(result).toBe(object);
    expect(Object.keys(result)).toEqual(['b', 'c', 'd', 'e']);
  });
});

describe('parseOneCNumber: 1C writes commas, dots and grouped thousands', () => {
  it('reads decimal commas and dots, signs, exponents and (non-breaking, narrow) spaces between thousands', () => {
    expect(parseOneCNumber('1 234,50')).toBe(1234.5);
    expect(parseOneCNumber('1\u00a0234,5')).toBe(1234.5);
    expect(parseOneCNumber('1\u202f000')).toBe(1000);
    expect(parseOneCNumber('\t12\n')).toBe(12);
    expect(parseOneCNumber('-5')).toBe(-5);
    expect(parseOneCNumber('+5')).toBe(5);
    expect(parseOneCNumber('.5')).toBe(0.5);
    expect(parseOneCNumber('.55')).toBe(0.55);
    expect(parseOneCNumber('1e10')).toBe(1e10);
    expect(parseOneCNumber('5.')).toBe(5);
    expect(parseOneCNumber('1e3')).toBe(1000);
    expect(parseOneCNumber('1E-2')).toBe(0.01);
    expect(parseOneCNumber('1,5e+2')).toBe(150);
    expect(parseOneCNumber('0')).toBe(0);
  });

  it('gives nothing for nothing, and refuses what is not a number', () => {
    expect(parseOneCNumber(undefined)).toBeUndefined();
    expect(parseOneCNumber('')).toBeUndefined();
    expect(parseOneCNumber('   ')).toBeUndefined();
    expect(valueError(() => parseOneCNumber('abc'))).toBe('not a number: "abc"');
    for (const bad of ['12abc', 'abc12', '1.2.3', '1,2,3', 'e5', '-', '1e', '1e+', '--1', '0x10', 'Infinity']) {
      expect(() => parseOneCNumber(bad), bad).toThrow(OneCValueError);
    }
  });
});

describe('parseOneCBoolean: two languages', () => {
  it('reads yes and no in Russian and English, any case, around spaces', () => {
    for (const yes of ['true', '1', 'да', 'истина', 'yes', ' Да ', 'TRUE', 'Истина']) expect(parseOneCBoolean(yes), yes).toBe(true);
    for (const no of ['false', '0', 'нет', 'ложь', 'no', '', ' НЕТ ', 'False', 'Ложь']) expect(parseOneCBoolean(no), no).toBe(false);
    expect(parseOneCBoolean(undefined)).toBeUndefined();
    expect(valueError(() => parseOneCBoolean('maybe'))).toBe('not a boolean: "maybe"');
  });
});

describe('parseOneCDate', () => {
  it('keeps a calendar date a date, from ISO or dd.mm.yyyy', () => {
    expect(parseOneCDate('2015-06-29')).toBe('2015-06-29');
    expect(parseOneCDate('29.06.2015')).toBe('2015-06-29');
    expect(parseOneCDate('1.6.2015')).toBe('2015-06-01');
    expect(parseOneCDate('2015-6-1')).toBe('2015-06-01');
    expect(parseOneCDate('  29.06.2015  ')).toBe('2015-06-29');
  });

  it('gives a zone-less time Moscow\'s offset by default, with seconds and milliseconds written out', () => {
    expect(parseOneCDate('2015-06-30T16:36:00')).toBe('2015-06-30T16:36:00+03:00');
    expect(parseOneCDate('2015-06-30 16:36')).toBe('2015-06-30T16:36:00+03:00');
    expect(parseOneCDate('2015-06-30T9:05:07')).toBe('2015-06-30T09:05:07+03:00');
    expect(parseOneCDate('30.06.2015 16:36:05')).toBe('2015-06-30T16:36:05+03:00');
    expect(parseOneCDate('30.06.2015  16:36')).toBe('2015-06-30T16:36:00+03:00');
    expect(parseOneCDate('2015-06-30T16:36:00.5')).toBe('2015-06-30T16:36:00.500+03:00');
    expect(parseOneCDate('2015-06-30T16:36:00.123456')).toBe('2015-06-30T16:36:00.123+03:00');
    expect(parseOneCDate('2015-06-30T16:36:00.000')).toBe('2015-06-30T16:36:00+03:00');
  });

  it('takes the time from a separate Время', () => {
    expect(parseOneCDate('2015-06-30', '16:36:00')).toBe('2015-06-30T16:36:00+03:00');
    expect(parseOneCDate('30.06.2015', ' 9:05 ')).toBe('2015-06-30T09:05:00+03:00');
    expect(parseOneCDate('2015-06-30', '   ')).toBe('2015-06-30');
    // A time inside the date wins over a separate one.
    expect(parseOneCDate('2015-06-30T10:00:00', '16:36:00')).toBe('2015-06-30T10:00:00+03:00');
    expect(valueError(() => parseOneCDate('2015-06-30', 'noon'))).toBe('not a time: "noon"');
    expect(valueError(() => parseOneCDate('2015-06-30', '16:36:00x'))).toBe('not a time: "16:36:00x"');
    expect(valueError(() => parseOneCDate('2015-06-30', 'x16:36'))).toBe('not a time: "x16:36"');
  });

  it('keeps an offset 1C wrote, written as ±hh:mm', () => {
    expect(parseOneCDate('2015-06-30T16:36:00Z')).toBe('2015-06-30T16:36:00Z');
    expect(parseOneCDate('2015-06-30T16:36:00+0500')).toBe('2015-06-30T16:36:00+05:00');
    expect(parseOneCDate('2015-06-30T16:36:00-03:30')).toBe('2015-06-30T16:36:00-03:30');
    expect(parseOneCDate('2015-06-30T16:36:00+14:00')).toBe('2015-06-30T16:36:00+14:00');
  });

  it('takes the first of a wall time that happens twice in a zone east of UTC (clocks set back)', () => {
    // Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 is 00:30Z and again 01:30Z.
    expect(parseOneCVersion('2026-10-25T02:30:00', 'Europe/Berlin')).toBe('2026-10-25T00:30:00.000Z');
    expect(parseOneCDate('2026-10-25T02:30:00', undefined, 'Europe/Berlin')).toBe('2026-10-25T02:30:00+02:00');
  });

  it('gives the offset of the zone it is told, east or west, with minutes', () => {
    expect(parseOneCDate('2015-06-30T12:00:00', undefined, 'UTC')).toBe('2015-06-30T12:00:00+00:00');
    expect(parseOneCDate('2015-06-30T12:00:00', undefined, 'Asia/Kolkata')).toBe('2015-06-30T12:00:00+05:30');
    expect(parseOneCDate('2026-01-15T12:00:00', undefined, 'America/St_Johns')).toBe('2026-01-15T12:00:00-03:30');
    expect(parseOneCDate('2026-01-15T12:00:00', undefined, 'America/New_York')).toBe('2026-01-15T12:00:00-05:00');
  });

  it('reads 1C\'s empty date and nothing as no date', () => {
    expect(parseOneCDate(undefined)).toBeUndefined();
    expect(parseOneCDate('')).toBeUndefined();
    expect(parseOneCDate('  ')).toBeUndefined();
    expect(parseOneCDate('0001-01-01T00:00:00')).toBeUndefined();
    expect(parseOneCDate('01.01.0001 0:00:00')).toBeUndefined();
  });

  it('refuses dates and times that do not exist, and offsets beyond ±14:00', () => {
    for (const bad of [
      '31.02.2024', '2024-02-30', '2024-13-01', '2024-00-10', '2024-01-00', '2024-01-01T24:00:00', '2024-01-01T10:60:00', '2024-01-01T10:00:60',
      '2024-01-01T10:00:00+15:00', '2024-01-01T10:00:00+05:60', '2023-02-29', 'garbage', '2024-01-01x', 'x2024-01-01', '01.01.2024x', 'x01.01.2024', '2024-01-01T10', '1.1.24',
      // A year before 100 is no 1C date (its empty date is 0001-01-01, read as none above).
      '0050-01-01',
    ]) {
      expect(valueError(() => parseOneCDate(bad)), bad).toBe(`not a date: "${bad}"`);
    }
    expect(parseOneCDate('2024-02-29')).toBe('2024-02-29');
    expect(parseOneCDate('2024-01-01T23:59:59')).toBe('2024-01-01T23:59:59+03:00');
  });
});

describe('parseOneCVersion: canonical UTC', () => {
  it('reads an offset 1C wrote, east or west, and a fraction', () => {
    expect(parseOneCVersion('2024-02-02T10:15:00-02:30')).toBe('2024-02-02T12:45:00.000Z');
    expect(parseOneCVersion('2024-02-02T10:15:00+0530')).toBe('2024-02-02T04:45:00.000Z');
    expect(parseOneCVersion('2024-02-02T10:15:00.25Z')).toBe('2024-02-02T10:15:00.250Z');
    expect(parseOneCVersion('2024-02-02T10:15:00.25')).toBe('2024-02-02T07:15:00.250Z');
  });

  it('reads a zone-less time in Moscow by default, and a bare date at midnight there', () => {
    expect(parseOneCVersion('2024-02-02 10:15')).toBe('2024-02-02T07:15:00.000Z');
    expect(parseOneCVersion('02.02.2024')).toBe('2024-02-01T21:00:00.000Z');
  });

  it('is nothing for nothing or 1C\'s empty date, and refuses what is no date', () => {
    expect(parseOneCVersion(undefined)).toBeUndefined();
    expect(parseOneCVersion(' ')).toBeUndefined();
    expect(parseOneCVersion('01.01.0001')).toBeUndefined();
    expect(valueError(() => parseOneCVersion('30.02.2024'))).toBe('not a date: "30.02.2024"');
  });
});

describe('isKnownTimeZone', () => {
  it('knows IANA names and nothing else', () => {
    expect(isKnownTimeZone('Europe/Moscow')).toBe(true);
    expect(isKnownTimeZone('Asia/Kolkata')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});
