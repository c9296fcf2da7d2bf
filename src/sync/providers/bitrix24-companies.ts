import { z } from 'zod';
import { maskSecrets } from '../../config/secrets.js';
import { ExchangeError } from '../../errors.js';
import type { Envelope } from '../../messages/envelope.js';
import type { StoredRecord } from '../../recordstore/record-store.js';
import { compareVersions, nextVersion } from '../../recordstore/versioning.js';
import { Bitrix24Client, pageSize as bitrix24PageSize } from '../../sinks/crm/bitrix24-client.js';
import { CrmLinks, type EntityLinks } from '../../sinks/crm/crm-links.js';
import { CrmMappings, defaultFieldMaps, isMultiField } from '../../sinks/crm/crm-mappings.js';
import type { ProviderContext, SyncPage, SyncProvider, SyncRecord } from '../sync-provider.js';

const settingsSchema = z.strictObject({
  /** Companies per saved page; Bitrix24 answers 50 a call (facts §4), so a page is that many calls. */
  pageSize: z.number().int().positive().multipleOf(bitrix24PageSize, `a multiple of ${bitrix24PageSize} (Bitrix24 lists 50 at a time)`).max(1000).default(bitrix24PageSize),
  /** CRM company fields brought back (default: every field crm.fields.company fills from `data.<field>`). */
  fields: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'a Bitrix24 company field such as TITLE')).min(1).optional(),
  /**
   * How far behind our clock the next run's `>DATE_MODIFY` starts: a company changed while a run lists
   * companies by ID may already be behind it, and the portal's clock is not ours. What is read twice is an
   * echo or unchanged, never a second change.
   */
  overlapSeconds: z.number().int().nonnegative().default(300),
});

export type Bitrix24CompaniesSettings = z.infer<typeof settingsSchema>;

/** A scan of `>DATE_MODIFY since` in ID order, resumable after any page. */
interface Cursor {
  /** The DATE_MODIFY lower bound of this scan (null: every company). */
  since: string | null;
  /** Last company ID read by this scan; 0 when a scan has not begun. */
  afterId: number;
  /** The latest DATE_MODIFY the scan has seen, and our clock (less the overlap) when it began. */
  maxSeen?: string;
  startedAt?: string;
}

type Company = Record<string, unknown> & { ID: string | number };

const identityFields = new Set(['ORIGINATOR_ID', 'ORIGIN_ID', 'ORIGIN_VERSION']);

/**
 * The way back of the two-way exchange (DESIGN §10): companies changed in Bitrix24 since the cursor become
 * `user` records again. Only companies of the exchange come back: those the CRM sink wrote (`ORIGIN_ID` = the
 * 1C id, linked in the record store's `links`) or whose ORIGIN_ID names a stored user.
 *
 * Without echo: the sink's own write moves DATE_MODIFY too, so every company it writes is listed here. A
 * company is sent back only when the CRM holds the record's current version (the link's version is the stored
 * version) and a person changed a field since: its fields differ from what the sink's mapping makes of the
 * stored record. Equal fields are our own write (an echo); a link behind the store means a write of a newer
 * record is on its way to the CRM and wins, so nothing is sent back either.
 *
 * Version: the company's DATE_MODIFY (UTC), and never less than one step past the stored version, since a
 * change made on top of what the CRM holds is newer than it whatever the portal's clock says.
 */
export const bitrix24CompaniesProvider: SyncProvider<Bitrix24CompaniesSettings> = {
  name: 'bitrix24-companies',
  description: 'companies changed in the Bitrix24 CRM since the last run, back into the record store as users (without echoes of our own writes)',
  settings: settingsSchema,
  stateVersion: 1,
  pull(cursor, settings, context) {
    return pullPages(cursor, settings, context);
  },
};

async function* pullPages(cursorText: string | null, settings: Bitrix24CompaniesSettings, context: ProviderContext): AsyncGenerator<SyncPage> {
  const crm = context.config.crm;
  if (!crm.webhookUrl) {
    throw new ExchangeError('CONFIG', 'the bitrix24-companies provider needs a Bitrix24 webhook', {
      details: ['crm.webhookUrl: required by the bitrix24-companies provider (or set EXCHANGE_BITRIX24_WEBHOOK)'],
    });
  }
  const client = new Bitrix24Client({ webhookUrl: crm.webhookUrl, requestsPerSecond: crm.requestsPerSecond, burst: crm.burst, timeoutMs: crm.timeoutMs, reporter: context.reporter });
  const mappings = new CrmMappings(crm);
  const fieldMap = { ...defaultFieldMaps.company, ...(crm.fields.company ?? {}) } as Record<string, string | null>;
  const backMap = fieldsBack(fieldMap, settings.fields);
  const links = new CrmLinks(context.recordStore, 'user', 'crm-requisite');
  const select = ['ID', 'DATE_MODIFY', 'ORIGIN_ID', 'ORIGIN_VERSION', ...Object.keys(backMap)];

  const cursor = parseCursor(cursorText);
  if (cursor.afterId === 0) cursor.startedAt = portalTime(new Date(context.now().getTime() - settings.overlapSeconds * 1000));
  const counts = { read: 0, changed: 0, echoes: 0, pending: 0, foreign: 0 };
  for (;;) {
    const companies: Company[] = [];
    let short = false;
    while (companies.length < settings.pageSize) {
      const filter: Record<string, unknown> = { '>ID': cursor.afterId };
      if (cursor.since) filter['>DATE_MODIFY'] = cursor.since;
      const rows = await list(client, { order: { ID: 'ASC' }, filter, select, start: -1 });
      companies.push(...rows);
      if (rows.length > 0) cursor.afterId = Number(rows[rows.length - 1].ID);
      for (const row of rows) {
        const modified = typeof row.DATE_MODIFY === 'string' ? row.DATE_MODIFY : undefined;
        if (modified && (!cursor.maxSeen || Date.parse(modified) > Date.parse(cursor.maxSeen))) cursor.maxSeen = modified;
      }
      if (rows.length < bitrix24PageSize) {
        short = true;
        break;
      }
    }
    counts.read += companies.length;
    const records = await changedRecords(companies, { mappings, fieldMap, backMap, links, context, counts });
    if (short) {
      const since = nextSince(cursor);
      yield { records, cursor: JSON.stringify({ since, afterId: 0 }) };
      context.reporter.debug(`bitrix24-companies: ${counts.read} companies read, ${counts.changed} changed in the CRM, ${counts.echoes} our own writes, ${counts.pending} with a newer record on its way to the CRM, ${counts.foreign} not from the exchange`);
      return;
    }
    yield { records, cursor: JSON.stringify(cursor) };
    if (context.signal?.aborted) return;
  }
}

interface Judge {
  mappings: CrmMappings;
  fieldMap: Record<string, string | null>;
  backMap: Record<string, string>;
  links: CrmLinks;
  context: ProviderContext;
  counts: { changed: number; echoes: number; pending: number; foreign: number };
}

async function changedRecords(companies: Company[], judge: Judge): Promise<SyncRecord[]> {
  const ours = companies.filter((company) => typeof company.ORIGIN_ID === 'string' && company.ORIGIN_ID !== '');
  judge.counts.foreign += companies.length - ours.length;
  if (ours.length === 0) return [];
  const ids = [...new Set(ours.map((company) => company.ORIGIN_ID as string))];
  const [stored, linked] = await Promise.all([judge.context.recordStore.getMany('user', ids), judge.links.load(ids)]);
  const records: SyncRecord[] = [];
  for (const company of ours) {
    const id = company.ORIGIN_ID as string;
    const record = stored.get(id);
    const link = linked.get(id)!;
    const decision = judgeCompany(company, record, link, judge);
    if (decision === 'foreign') judge.counts.foreign++;
    else if (decision === 'echo') judge.counts.echoes++;
    else if (decision === 'pending') judge.counts.pending++;
    else {
      judge.counts.changed++;
      records.push(decision);
    }
  }
  return records;
}

function judgeCompany(company: Company, record: StoredRecord | undefined, link: EntityLinks, judge: Judge): SyncRecord | 'echo' | 'pending' | 'foreign' {
  const companyId = String(company.ID);
  // Another company carrying the same ORIGIN_ID (a copy made in the CRM) is not the one the exchange keeps.
  if (link.crmId && link.crmId !== companyId) return 'foreign';
  if (!record || record.deleted || !record.data) return link.crmId ? 'pending' : 'foreign';
  if (link.crmId && (!link.state.version || compareVersions(link.state.version, record.version) !== 0)) return 'pending';
  const envelope: Envelope = { type: 'user', op: 'upsert', id: record.id, version: record.version, source: 'exchange', data: record.data };
  const written = judge.mappings.company(envelope);
  const data: Record<string, unknown> = { ...record.data };
  let changed = false;
  for (const [field, recordField] of Object.entries(judge.backMap)) {
    if (isMultiField(field)) {
      const now = multiValues(company[field]);
      const before = written.contacts[field] ?? [];
      if (now.join('\n') === before.join('\n')) continue;
      data[recordField] = now.length > 0 ? now.join(', ') : null;
    } else {
      const now = text(company[field]);
      if (now === text(written.fields[field])) continue;
      data[recordField] = now === '' ? null : now;
    }
    changed = true;
  }
  if (!changed) return 'echo';
  const modified = typeof company.DATE_MODIFY === 'string' && !Number.isNaN(Date.parse(company.DATE_MODIFY)) ? new Date(Date.parse(company.DATE_MODIFY)).toISOString() : undefined;
  // Linked and current: the CRM held exactly this record when the person changed it, so the change is newer.
  const floor = link.crmId ? nextVersion(record.version) : undefined;
  const version = modified && (!floor || compareVersions(modified, floor) >= 0) ? modified : floor ?? modified ?? judge.context.now().toISOString();
  return { type: 'user', id: record.id, op: 'upsert', version, data };
}

/** CRM field → record field, for the company fields filled from `data.<field>` (the first alternative). */
function fieldsBack(fieldMap: Record<string, string | null>, wanted: string[] | undefined): Record<string, string> {
  const back: Record<string, string> = {};
  const problems: string[] = [];
  for (const field of wanted ?? Object.keys(fieldMap)) {
    const source = fieldMap[field];
    const path = source?.split('|')[0].trim();
    const match = path ? /^data\.([A-Za-z0-9_]+)$/.exec(path) : null;
    if (match && !identityFields.has(field)) back[field] = match[1];
    else if (wanted) problems.push(`settings.fields: ${field} is not filled from a record field by crm.fields.company (its source: ${source === undefined ? 'none' : JSON.stringify(source)}), so it cannot come back`);
  }
  if (problems.length > 0) throw new ExchangeError('CONFIG', 'bitrix24-companies: a field it cannot bring back', { details: problems });
  if (Object.keys(back).length === 0) throw new ExchangeError('CONFIG', 'bitrix24-companies: no company field is filled from a record field', { details: ['crm.fields.company: map at least one CRM field from data.<field>'] });
  return back;
}

async function list(client: Bitrix24Client, params: Record<string, unknown>): Promise<Company[]> {
  try {
    const { result } = await client.call<Company[] | Record<string, Company>>('crm.company.list', params);
    // PHP answers an empty list as [] and, rarely, a keyed object: both are rows.
    return Array.isArray(result) ? result : Object.values(result ?? {});
  } catch (error) {
    // The client speaks as for a sink; here Bitrix24 is the source, and whatever refused us stops the run (69).
    const message = error instanceof Error ? error.message : String(error);
    throw new ExchangeError('SOURCE_UNAVAILABLE', maskSecrets(`bitrix24-companies: crm.company.list failed: ${message}`), {
      hint: error instanceof ExchangeError && error.hint ? error.hint : 'the next run resumes from the last saved page',
      cause: error,
    });
  }
}

/**
 * Where the next scan starts: the latest change seen, but never after the moment this scan began (less the
 * overlap): a company changed during the scan, behind the IDs already read, is listed next time.
 */
function nextSince(cursor: Cursor): string | null {
  if (!cursor.maxSeen) return cursor.since;
  if (!cursor.startedAt) return cursor.maxSeen;
  return Date.parse(cursor.maxSeen) <= Date.parse(cursor.startedAt) ? cursor.maxSeen : cursor.startedAt;
}

/** ISO-8601 to the second with an offset, as Bitrix24 writes its dates (crm-company-get.md). */
function portalTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+00:00`;
}

function parseCursor(text: string | null): Cursor {
  if (!text) return { since: null, afterId: 0 };
  try {
    const parsed = JSON.parse(text) as Partial<Cursor>;
    return {
      since: typeof parsed.since === 'string' ? parsed.since : null,
      afterId: Number.isInteger(parsed.afterId) ? (parsed.afterId as number) : 0,
      ...(typeof parsed.maxSeen === 'string' ? { maxSeen: parsed.maxSeen } : {}),
      ...(typeof parsed.startedAt === 'string' ? { startedAt: parsed.startedAt } : {}),
    };
  } catch {
    throw new ExchangeError('CONFIG', `the saved cursor of this bitrix24-companies sync is not one it wrote: ${text.slice(0, 100)}`, { hint: 'exchange sync reset <name> starts it over' });
  }
}

function text(value: unknown): string {
  return value === undefined || value === null ? '' : String(value).trim();
}

/** A multi-field as Bitrix24 lists it: [{ID, VALUE_TYPE, VALUE, TYPE_ID}], or a keyed object from PHP. */
function multiValues(value: unknown): string[] {
  const items = Array.isArray(value) ? value : value && typeof value === 'object' ? Object.values(value) : [];
  return (items as Array<{ VALUE?: unknown }>).map((item) => text(item?.VALUE)).filter(Boolean);
}
