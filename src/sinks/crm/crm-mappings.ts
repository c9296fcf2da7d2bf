import { createHash } from 'node:crypto';
import type { ExchangeConfig } from '../../config/schema.js';
import type { Envelope } from '../../messages/envelope.js';

/**
 * Where each CRM field takes its value from. A source is a path into the envelope (`data.name`, `id`,
 * `version`, `source`), alternatives separated by `|` (the first that is not empty wins), or a constant
 * after `=` (`=CUSTOMER`). null leaves the field out. Config `crm.fields.<entity>` overrides field by field.
 * Identity fields (ORIGIN_*, XML_ID, xmlId, iblockId, ENTITY_*, COMPANY_ID, CATEGORY_ID) are set by the sink
 * itself: they are how it finds what it wrote, so they cannot be mapped away.
 */
export type FieldMap = Record<string, string | null>;

export const defaultFieldMaps = {
  company: { TITLE: 'data.name|id', PHONE: 'data.phone', EMAIL: 'data.email', ADDRESS: 'data.address' },
  requisite: { NAME: 'data.name|id', RQ_INN: 'data.inn', RQ_KPP: 'data.kpp', RQ_COMPANY_NAME: 'data.name', RQ_COMPANY_FULL_NAME: 'data.fullName' },
  product: { name: 'data.name|data.sku|id', code: null, detailText: 'data.description', measure: null },
  deal: { TITLE: 'data.number|id', OPPORTUNITY: 'data.amount', CURRENCY_ID: 'data.currency', BEGINDATE: 'data.date', CLOSEDATE: 'data.date', COMMENTS: 'data.contract' },
} satisfies Record<string, FieldMap>;

export type MappedEntity = keyof typeof defaultFieldMaps;

const multiFields = new Set(['PHONE', 'EMAIL', 'WEB', 'IM']);

export function isMultiField(field: string): boolean {
  return multiFields.has(field);
}

export class CrmMappings {
  private readonly maps: Record<MappedEntity, FieldMap>;

  constructor(private readonly config: ExchangeConfig['crm']) {
    const overrides = (config.fields ?? {}) as Partial<Record<MappedEntity, FieldMap>>;
    this.maps = {
      company: { ...defaultFieldMaps.company, ...overrides.company },
      requisite: { ...defaultFieldMaps.requisite, ...overrides.requisite },
      product: { ...defaultFieldMaps.product, ...overrides.product },
      deal: { ...defaultFieldMaps.deal, ...overrides.deal },
    };
  }

  /** The company's fields; multi-fields as their plain values, merged into Bitrix24's form by the writer. */
  company(envelope: Envelope): { fields: Record<string, unknown>; contacts: Record<string, string[]> } {
    const mapped = this.apply('company', envelope);
    const contacts: Record<string, string[]> = {};
    for (const key of Object.keys(mapped)) {
      if (!isMultiField(key)) continue;
      const value = mapped[key];
      delete mapped[key];
      contacts[key] = splitContacts(value);
    }
    return {
      fields: { ...mapped, ORIGINATOR_ID: envelope.source, ORIGIN_ID: envelope.id, ORIGIN_VERSION: envelope.version },
      contacts,
    };
  }

  /** Requisite fields whose change needs a write; undefined when the counterparty has no tax ids at all. */
  requisite(envelope: Envelope): Record<string, unknown> | undefined {
    const mapped = this.apply('requisite', envelope);
    if (!mapped.RQ_INN && !mapped.RQ_KPP) return undefined;
    return { ...mapped, PRESET_ID: this.config.requisitePresetId, XML_ID: envelope.id };
  }

  product(envelope: Envelope): Record<string, unknown> {
    const data = envelope.data ?? {};
    return {
      ...this.apply('product', envelope),
      active: envelope.op === 'delete' || data.deleted === true ? 'N' : 'Y',
      iblockId: this.config.productIblockId,
      xmlId: envelope.id,
    };
  }

  /** The product's base price: the configured 1C price type, else the first price. */
  basePrice(envelope: Envelope): { price: number; currency: string } | undefined {
    const prices = ((envelope.data ?? {}).prices ?? []) as Array<{ typeId?: string | null; type?: string | null; value: number; currency?: string | null }>;
    const wanted = this.config.basePriceType;
    const price = wanted ? prices.find((p) => p.typeId === wanted || p.type === wanted) : prices[0];
    if (!price) return undefined;
    return { price: price.value, currency: currencyCode(price.currency, this.config.defaultCurrency) };
  }

  deal(envelope: Envelope, companyId: string | undefined): Record<string, unknown> {
    const mapped = this.apply('deal', envelope);
    if ('CURRENCY_ID' in mapped || this.maps.deal.CURRENCY_ID !== null) mapped.CURRENCY_ID = currencyCode(mapped.CURRENCY_ID as string | undefined, this.config.defaultCurrency);
    return {
      ...mapped,
      ...(this.config.dealCategoryId !== undefined ? { CATEGORY_ID: this.config.dealCategoryId } : {}),
      ...(companyId ? { COMPANY_ID: companyId } : {}),
      ORIGINATOR_ID: envelope.source,
      ORIGIN_ID: envelope.id,
    };
  }

  /** An order named by a document: kept as a deal of its own (README: how orders are kept). */
  order(orderId: string, source: string, companyId: string | undefined): Record<string, unknown> {
    return {
      TITLE: `${this.config.orderTitlePrefix}${orderId}`,
      ...(this.config.orderCategoryId !== undefined ? { CATEGORY_ID: this.config.orderCategoryId } : {}),
      ...(companyId ? { COMPANY_ID: companyId } : {}),
      ORIGINATOR_ID: source,
      ORIGIN_ID: orderId,
    };
  }

  private apply(entity: MappedEntity, envelope: Envelope): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [field, source] of Object.entries(this.maps[entity])) {
      if (source === null) continue;
      const value = resolve(source, envelope);
      if (value !== undefined) out[field] = value;
    }
    return out;
  }
}

function resolve(source: string, envelope: Envelope): unknown {
  if (source.startsWith('=')) return source.slice(1);
  for (const alternative of source.split('|')) {
    let node: unknown = envelope;
    for (const part of alternative.trim().split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    if (node !== undefined && node !== null && node !== '') return node;
  }
  return undefined;
}

function splitContacts(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : String(value).split(/[;,]\s*/);
  return list.map((item) => String(item).trim()).filter(Boolean);
}

/** 1C writes currencies as `руб.`, `643` or `RUB`; Bitrix24 wants ISO codes. */
export function currencyCode(value: string | null | undefined, fallback: string): string {
  if (!value) return fallback;
  const text = value.trim().toLowerCase().replace(/\.$/, '');
  if (text === '643' || text === 'руб' || text === 'rub' || text === 'rur' || text === 'рубль') return 'RUB';
  if (text === '840' || text === 'usd' || text === 'долл') return 'USD';
  if (text === '978' || text === 'eur' || text === 'евро') return 'EUR';
  return /^[a-z]{3}$/.test(text) ? text.toUpperCase() : fallback;
}

/** Sorted keys, so equal content always hashes alike whatever order the fields were built in. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function shortHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}
