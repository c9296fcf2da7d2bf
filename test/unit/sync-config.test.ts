import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config.js';
import { ExchangeError } from '../../src/errors.js';
import { parseDailyXml } from '../../src/sync/providers/cbr-rates.js';
import { realDays } from '../support/cbr-server.js';

const problems = (syncs: unknown): string[] => {
  try {
    parseConfig({ syncs });
  } catch (error) {
    expect(error).toBeInstanceOf(ExchangeError);
    expect((error as ExchangeError).exitCode).toBe(78);
    return (error as ExchangeError).details;
  }
  return [];
};

describe('syncs in the config (DESIGN §10)', () => {
  it('takes a sync with the provider\'s defaults filled in', () => {
    const config = parseConfig({ syncs: { cbr: { provider: 'cbr-rates', schedule: '0 9 * * *' } } });
    expect(config.syncs.cbr).toEqual({
      provider: 'cbr-rates', enabled: true, schedule: '0 9 * * *', lockAtMostForMs: 900_000,
      settings: { url: 'http://www.cbr.ru/scripts/XML_daily.asp', daysBack: 30, timeoutMs: 30_000 },
    });
  });

  it('names the settings key the provider refuses, an unknown provider with the known ones, a bad schedule, a reserved name', () => {
    expect(problems({ cbr: { provider: 'cbr-rates', schedule: '1h', settings: { daysBack: 0, currencies: ['usd'], colour: 'red' } } })).toEqual([
      'syncs.cbr.settings.daysBack: Too small: expected number to be >0',
      'syncs.cbr.settings.currencies.0: a letter code such as USD',
      'syncs.cbr.settings.colour: unknown key',
    ]);
    const [unknown] = problems({ x: { provider: 'nbrb-rates', schedule: '1h' } });
    expect(unknown).toMatch(/^syncs\.x\.provider: unknown provider "nbrb-rates" \(known: .*cbr-rates.*\)$/);
    expect(problems({ cbr: { provider: 'cbr-rates', schedule: 'every day' } })[0]).toMatch(/^syncs\.cbr\.schedule: "every day" is neither an interval/);
    expect(problems({ status: { provider: 'cbr-rates', schedule: '1h' } })).toEqual(['syncs.status: "status" is a word of the sync command (list, status, enable, disable, reset): name the sync otherwise']);
  });
});

describe('cbr-rates: reading XML_daily', () => {
  it('reads the real answer of 13.12.2025: 55 currencies, comma decimals, Nominal', () => {
    const { date, records } = parseDailyXml(realDays['2025-12-13']);
    expect(date).toBe('2025-12-13');
    expect(records).toHaveLength(55);
    expect(records.find((r) => r.id === 'AMD:2025-12-13')).toEqual({
      type: 'rate', id: 'AMD:2025-12-13', op: 'upsert', version: '2025-12-13',
      data: { charCode: 'AMD', numCode: '051', name: 'Armenian Dram', nominal: 100, value: 20.8842, date: '2025-12-13' },
    });
  });

  it('reads the real answer of 27.09.2023 with its Russian names', () => {
    const { date, records } = parseDailyXml(realDays['2023-09-27']);
    expect(date).toBe('2023-09-27');
    expect(records).toHaveLength(43);
    expect(records.find((r) => r.id === 'USD:2023-09-27')?.data).toEqual({ charCode: 'USD', numCode: '840', name: 'Доллар США', nominal: 1, value: 96.2378, date: '2023-09-27' });
  });
});
