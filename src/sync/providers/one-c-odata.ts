import { z } from 'zod';
import { maskSecrets, registerSecret } from '../../config/secrets.js';
import { ExchangeError } from '../../errors.js';
import { parseOneCDate } from '../../onec/one-c-values.js';
import type { ProviderContext, SyncPage, SyncProvider, SyncRecord } from '../sync-provider.js';
import { describeOneCFailure, readOneCBody } from './one-c-odata-errors.js';

const settingsSchema = z.strictObject({
  /** The infobase's `…/odata/standard.odata` (the web publication address + /odata/standard.odata). */
  url: z.string().regex(/^https?:\/\/[^\s/]+/, 'an http:// or https:// URL'),
  user: z.string().min(1),
  password: z.string().default(''),
  /** The published entity set, e.g. Catalog_Контрагенты or Document_РеализацияТоваровУслуг. */
  entity: z.string().regex(/^[A-Za-z]+_[^\s/?#()]+$/, 'an OData entity set such as Catalog_Контрагенты (Prefix_ObjectName)'),
  type: z.enum(['user', 'product', 'mutualsettlements']),
  /** Record field → OData property of the entity, e.g. { name: 'Description', inn: 'ИНН' }. */
  mapping: z.record(z.string().min(1), z.string().regex(/^[^\s,/()']+$/, 'one OData property name')).refine((m) => Object.keys(m).length > 0, 'map at least one record field'),
  pageSize: z.number().int().positive().max(10_000).default(500),
  /** Documents: the date property that makes runs incremental (`Date`); absent: every run reads the whole entity. */
  incrementalField: z.string().regex(/^[^\s,/()']+$/, 'one OData property name').optional(),
  timeoutMs: z.number().int().positive().default(60_000),
});

export type OneCODataSettings = z.infer<typeof settingsSchema>;

/**
 * Where a run resumes. A full read: `skip` = entities already read under the fixed order (0: the next run reads
 * everything again). Incremental: `since` = the last `Date` seen (as 1C wrote it, zone-less) and `skip` = how
 * many entities of exactly that date were read already, so a page full of one date still moves on.
 */
interface Cursor { since?: string; skip: number }

const emptyGuid = '00000000-0000-0000-0000-000000000000';
const oneCDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/**
 * 1C's standard OData interface (DESIGN §10; facts: ../shared/realdata/facts/1c-odata.md). 1C has no server-side
 * paging and no ordered "changed since" for catalogs (DataVersion is opaque), so a catalog is read whole every run
 * in `$top`/`$skip` pages under a fixed `$orderby`, and the record store's hashes find what changed. Documents go
 * incremental on their date (`incrementalField`).
 *
 * Versions: a record's version is the time its page was read (UTC, strictly increasing within a run). 1C gives
 * nothing that orders, and the read time does: a record that changed in 1C is read later than its stored
 * version, so it is newer; one that did not is `unchanged` by hash and makes no event. The page's time, not
 * the run's start, because `$skip` paging can meet one entity twice in a run (an entity added before it shifts
 * the pages), and two reads with different content must not share a version (DESIGN §12).
 */
export const oneCODataProvider: SyncProvider<OneCODataSettings> = {
  name: '1c-odata',
  description: "1C's standard OData interface: a catalog read whole (changes found by hash) or documents incremental on their date",
  settings: settingsSchema,
  stateVersion: 1,
  pull(cursor, settings, context) {
    return pullPages(cursor, settings, context);
  },
};

async function* pullPages(cursorText: string | null, settings: OneCODataSettings, context: ProviderContext): AsyncGenerator<SyncPage> {
  registerSecret(settings.password);
  const cursor = parseCursor(cursorText);
  const incremental = settings.incrementalField;
  const timeZone = context.config.import.timeZone;
  const select = [...new Set(['Ref_Key', 'DeletionMark', ...(incremental ? [incremental] : []), ...Object.values(settings.mapping)])];
  let since = cursor.since;
  let skip = cursor.skip;
  let lastVersion = '';
  for (;;) {
    const url = pageUrl(settings, select, since, skip);
    const rows = await fetchPage(url, settings);
    const version = nextReadTime(context.now(), lastVersion);
    lastVersion = version;
    const records = rows.map((row) => toRecord(row, settings, version, timeZone));
    const short = rows.length < settings.pageSize;
    if (incremental) {
      for (const row of rows) {
        const date = row[incremental];
        if (typeof date !== 'string' || !oneCDateTime.test(date)) {
          throw new ExchangeError('CONFIG', `1C entity ${settings.entity}: ${incremental} of ${String(row.Ref_Key)} is not a date (${JSON.stringify(date)})`, {
            details: [`settings.incrementalField: ${incremental} must be a date property of ${settings.entity} (documents: Date)`],
          });
        }
        // Entities arrive ordered by date: count how many of the last date have been read to skip them next time.
        if (date === since) skip++;
        else {
          since = date;
          skip = 1;
        }
      }
      // A finished run saves skip 0: the next run reads the last date's entities again (unchanged by hash),
      // so an entity 1C adds later with that very date is not lost behind the skip.
      yield { records, cursor: writeCursor(short ? { since, skip: 0 } : { since, skip }) };
    } else {
      skip += rows.length;
      yield { records, cursor: writeCursor({ skip: short ? 0 : skip }) };
    }
    if (short || context.signal?.aborted) return;
  }
}

function pageUrl(settings: OneCODataSettings, select: string[], since: string | undefined, skip: number): string {
  const base = settings.url.replace(/\/+$/, '');
  const field = settings.incrementalField;
  // 1C does not read `+` as a space in query options (facts §1): every part goes through encodeURIComponent.
  const options: Array<[string, string]> = [['$format', 'json']];
  if (field && since !== undefined) options.push(['$filter', `${field} ge datetime'${since}'`]);
  options.push(['$orderby', field ? `${field} asc,Ref_Key asc` : 'Ref_Key asc']);
  options.push(['$select', select.join(',')]);
  options.push(['$top', String(settings.pageSize)]);
  if (skip > 0) options.push(['$skip', String(skip)]);
  const query = options.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
  return `${base}/${encodeURIComponent(settings.entity)}?${query}`;
}

async function fetchPage(url: string, settings: OneCODataSettings): Promise<Array<Record<string, unknown>>> {
  const where = `1C at ${maskSecrets(settings.url)}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      headers: {
        authorization: `Basic ${Buffer.from(`${settings.user}:${settings.password}`, 'utf8').toString('base64')}`,
        accept: 'application/json',
      },
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    const failure = error as Error & { cause?: { code?: string; message?: string } };
    const reason = failure.name === 'TimeoutError' ? `no answer in ${settings.timeoutMs} ms` : failure.cause?.code ?? failure.cause?.message ?? failure.message;
    throw new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(`${where} did not answer ${settings.entity}: ${reason}`), {
      hint: 'check settings.url (the infobase publication must be reachable from here); the next run resumes from the last saved page',
      cause: error,
    });
  }
  const body = readOneCBody(text, response.headers.get('content-type'));
  if (response.status === 404) {
    throw new ExchangeError('CONFIG', maskSecrets(`${where} does not publish ${settings.entity} (HTTP 404${body.message ? `: ${body.message}` : ''})`), {
      details: [`settings.entity: ${settings.entity} is not in the published composition of the standard OData interface (or the name is misspelt)`],
      hint: 'in 1C, add the object to the standard OData interface: Все функции → Обработки → Настройка стандартного интерфейса OData → Состав (or УстановитьСоставСтандартногоИнтерфейсаOData()), and publish the infobase with "Публиковать стандартный интерфейс OData" ticked',
    });
  }
  if (response.status === 400 && body.code === '10') {
    throw new ExchangeError('CONFIG', maskSecrets(`${where} refused the properties asked of ${settings.entity}: ${body.message}`), {
      details: [`settings.mapping: every value must be a property of ${settings.entity} (Description, Code, ИНН, …), as in its $metadata`],
    });
  }
  if (response.status >= 400 || body.kind !== 'collection') {
    throw new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(describeOneCFailure(where, settings.entity, response.status, body)), {
      hint: response.status === 401 || response.status === 403
        ? 'check settings.user and settings.password: an infobase user with 1C:Enterprise authentication and the right to read the object (OS authentication does not work over Basic)'
        : 'the next run resumes from the last saved page',
    });
  }
  return body.value;
}

function toRecord(row: Record<string, unknown>, settings: OneCODataSettings, version: string, timeZone: string): SyncRecord {
  const id = String(row.Ref_Key ?? '');
  if (!/^[0-9a-f-]{36}$/i.test(id)) {
    throw new ExchangeError('SOURCE_UNAVAILABLE', `1C answered ${settings.entity} with an entity without a Ref_Key: ${JSON.stringify(row).slice(0, 200)}`);
  }
  if (row.DeletionMark === true) return { type: settings.type, id, op: 'delete', version, data: null };
  const data: Record<string, unknown> = {};
  for (const [field, property] of Object.entries(settings.mapping)) data[field] = value(row[property], timeZone);
  return { type: settings.type, id, op: 'upsert', version, data };
}

/**
 * 1C's JSON as record values: an empty reference or the empty date means "none" (null), and a zone-less
 * date-time is read in import.timeZone (DESIGN §12) so it names one instant wherever it is read.
 */
function value(raw: unknown, timeZone: string): unknown {
  if (raw === undefined || raw === emptyGuid) return null;
  if (typeof raw === 'string' && oneCDateTime.test(raw)) return parseOneCDate(raw, undefined, timeZone) ?? null;
  return raw;
}

/** The page's read time as a version, one millisecond past the previous page's when the clock has not moved. */
function nextReadTime(now: Date, previous: string): string {
  const time = previous ? Math.max(now.getTime(), Date.parse(previous) + 1) : now.getTime();
  return new Date(time).toISOString();
}

function parseCursor(text: string | null): Cursor {
  if (!text) return { skip: 0 };
  try {
    const parsed = JSON.parse(text) as Partial<Cursor>;
    const skip = Number.isInteger(parsed.skip) && (parsed.skip as number) >= 0 ? (parsed.skip as number) : 0;
    return { skip, ...(typeof parsed.since === 'string' && oneCDateTime.test(parsed.since) ? { since: parsed.since } : {}) };
  } catch {
    throw new ExchangeError('CONFIG', `the saved cursor of this 1c-odata sync is not one it wrote: ${text.slice(0, 100)}`, { hint: 'exchange sync reset <name> starts it over' });
  }
}

function writeCursor(cursor: Cursor): string {
  return JSON.stringify(cursor.since === undefined ? { skip: cursor.skip } : { since: cursor.since, skip: cursor.skip });
}
