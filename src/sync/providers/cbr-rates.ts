import type { XMLParser } from 'fast-xml-parser';
import type iconvModule from 'iconv-lite';
import { z } from 'zod';
import { ExchangeError } from '../../errors.js';
import { lazyModule } from '../../lazy-module.js';
import type { SyncPage, SyncProvider, SyncRecord } from '../sync-provider.js';

/**
 * The Central Bank of Russia's official daily rates (DESIGN §10): `XML_daily.asp?date_req=dd/mm/yyyy` answers
 * windows-1251 XML, `<ValCurs Date="dd.mm.yyyy">` with one `<Valute>` per currency (`Nominal` units cost `Value`
 * roubles, comma decimals). On a day without rates of its own (a weekend, a holiday) it answers the rates in force,
 * dated the day they were set: the record takes the date the CBR gives, so the same rates are never stored again
 * under another date. One page per requested day; the cursor is the last day asked for (YYYY-MM-DD).
 */
const settingsSchema = z.strictObject({
  url: z.string().url().default('http://www.cbr.ru/scripts/XML_daily.asp'),
  /** Days the first run (and a run after `sync reset`) loads, today included. */
  daysBack: z.number().int().positive().max(3660).default(30),
  /** Letter codes to keep (USD, EUR, …); every currency when absent. */
  currencies: z.array(z.string().regex(/^[A-Z]{3}$/, 'a letter code such as USD')).min(1).optional(),
  /** The last day to load (YYYY-MM-DD); today in Moscow when absent. A fixed day makes a backfill of a past range. */
  until: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD').optional(),
  /** One request; a CBR that does not answer within it is unavailable for this run (exit 69). */
  timeoutMs: z.number().int().positive().default(30_000),
});
export type CbrRatesSettings = z.infer<typeof settingsSchema>;

/** The rates are set in Moscow: "today" is Moscow's date, whatever the machine's zone. */
const cbrTimeZone = 'Europe/Moscow';
const dayMs = 86_400_000;

export const cbrRatesProvider: SyncProvider<CbrRatesSettings> = {
  name: 'cbr-rates',
  description: 'official daily exchange rates of the Central Bank of Russia (XML_daily.asp) as rate records',
  settings: settingsSchema,
  stateVersion: 1,
  async *pull(cursor, settings, context): AsyncIterable<SyncPage> {
    const today = settings.until ?? isoDateIn(context.now(), cbrTimeZone);
    const first = cursor ? addDays(cursor, 1) : addDays(today, -(settings.daysBack - 1));
    const wanted = settings.currencies ? new Set(settings.currencies) : undefined;
    let previousDate: string | undefined;
    for (let day = first; day <= today; day = addDays(day, 1)) {
      const rates = await fetchDay(settings, day);
      // A weekend answers Friday's (or Saturday's) rates again: those were this run's previous page already.
      const records = rates.date === previousDate ? [] : rates.records.filter((record) => !wanted || wanted.has(String(record.data!.charCode)));
      previousDate = rates.date;
      context.reporter.debug(`cbr-rates: ${day} → rates of ${rates.date}, ${records.length} currencies`);
      yield { records, cursor: day };
    }
  },
};

interface DayRates {
  /** The date the CBR gives the rates (YYYY-MM-DD), not necessarily the one asked for. */
  date: string;
  records: SyncRecord[];
}

async function fetchDay(settings: CbrRatesSettings, day: string): Promise<DayRates> {
  const [year, month, date] = day.split('-');
  const url = new URL(settings.url);
  url.searchParams.set('date_req', `${date}/${month}/${year}`);
  const where = `${url.origin}${url.pathname}?date_req=${date}/${month}/${year}`;
  let response: Response;
  let body: Buffer;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(settings.timeoutMs), headers: { accept: 'application/xml, text/xml' } });
    body = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
    throw unavailable(`${where}: ${timedOut ? `no answer within ${settings.timeoutMs} ms` : describeFetchError(error)}`, error);
  }
  if (!response.ok) throw unavailable(`${where}: HTTP ${response.status} ${response.statusText}${snippet(decode(body, response.headers.get('content-type')))}`);
  return parseDailyXml(decode(body, response.headers.get('content-type')), where);
}

// The XML parser and the decoder load on the first sync that needs them: the config loads this provider on every
// command (its settings schema), and start-up time counts for every drain.
const fastXmlParser = lazyModule<typeof import('fast-xml-parser')>('fast-xml-parser');
let xmlParser: XMLParser | undefined;
const parser = () => (xmlParser ??= new (fastXmlParser().XMLParser)({
  ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false, trimValues: true,
}));
const iconv = lazyModule<typeof iconvModule>('iconv-lite');

/** Exported for tests: the records of one XML_daily answer. */
export function parseDailyXml(text: string, where = 'XML_daily'): DayRates {
  let document: Record<string, any>;
  try {
    document = parser().parse(text);
  } catch (error) {
    throw unavailable(`${where}: the answer is not XML (${(error as Error).message})${snippet(text)}`, error);
  }
  const valCurs = document?.ValCurs;
  const dateText = typeof valCurs === 'object' && valCurs !== null ? String(valCurs['@Date'] ?? '') : '';
  const dateMatch = /^(\d{2})[./](\d{2})[./](\d{4})$/.exec(dateText);
  // An HTML page (the CBR's error or maintenance page, a proxy's) or "Error in parameters": not rates.
  if (!dateMatch) throw unavailable(`${where}: the answer holds no rates (no <ValCurs Date="dd.mm.yyyy">)${snippet(text)}`);
  const date = `${dateMatch[3]}-${dateMatch[2]}-${dateMatch[1]}`;
  const valutes = valCurs.Valute === undefined ? [] : Array.isArray(valCurs.Valute) ? valCurs.Valute : [valCurs.Valute];
  const records: SyncRecord[] = [];
  for (const valute of valutes as Array<Record<string, unknown>>) {
    const charCode = String(valute.CharCode ?? '').trim();
    const nominal = Number(String(valute.Nominal ?? '').replace(/\s/g, ''));
    const value = Number(String(valute.Value ?? '').replace(/\s/g, '').replace(',', '.'));
    if (!/^[A-Z]{3}$/.test(charCode) || !Number.isInteger(nominal) || nominal <= 0 || !Number.isFinite(value)) {
      throw unavailable(`${where}: a <Valute> of ${date} cannot be read (CharCode "${charCode}", Nominal "${String(valute.Nominal)}", Value "${String(valute.Value)}")`);
    }
    records.push({
      type: 'rate', id: `${charCode}:${date}`, op: 'upsert', version: date,
      data: { charCode, numCode: valute.NumCode === undefined ? null : String(valute.NumCode), name: valute.Name === undefined ? null : String(valute.Name), nominal, value, date },
    });
  }
  return { date, records };
}

/** windows-1251 as the CBR declares it; the XML declaration wins over the header, UTF-8 when neither says. */
function decode(body: Buffer, contentType: string | null): string {
  const head = body.toString('latin1', 0, 200);
  const declared = /<\?xml[^>]*encoding=["']([^"']+)["']/i.exec(head)?.[1] ?? /charset=([^;\s]+)/i.exec(contentType ?? '')?.[1] ?? 'utf-8';
  const encoding = iconv().encodingExists(declared) ? declared : 'utf-8';
  return iconv().decode(body, encoding);
}

function unavailable(message: string, cause?: unknown): ExchangeError {
  return new ExchangeError('SOURCE_UNAVAILABLE', `cbr-rates: ${message}`, {
    hint: 'the cursor stays at the last saved day; the next run resumes there',
    ...(cause === undefined ? {} : { cause }),
  });
}

function snippet(text: string): string {
  const flat = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return flat ? `: "${flat.slice(0, 120)}${flat.length > 120 ? '…' : ''}"` : '';
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${cause.code} ${cause.message ?? ''}`.trim() : (error as Error).message;
}

function isoDateIn(now: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

function addDays(isoDate: string, days: number): string {
  return new Date(Date.parse(`${isoDate}T00:00:00Z`) + days * dayMs).toISOString().slice(0, 10);
}
