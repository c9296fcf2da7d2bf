import { ExchangeError } from '../../errors.js';
import type { Envelope } from '../../messages/envelope.js';
import type { EntityType } from '../../messages/entity-types.js';
import { compareVersions } from '../../recordstore/versioning.js';
import type { Sink, SinkContext, SinkItemResult, SinkPlugin } from '../sink.js';
import { Bitrix24Client, Bitrix24TemporaryError } from './bitrix24-client.js';
import { CompanyWriter } from './company-writer.js';
import { withCreateLock } from './create-lock.js';
import { CrmMappings } from './crm-mappings.js';
import { DealWriter } from './deal-writer.js';
import { ProductWriter } from './product-writer.js';

interface Writer {
  write(envelopes: Envelope[]): Promise<Map<Envelope, SinkItemResult>>;
}

/**
 * The Bitrix24 CRM as a sink (DESIGN §8). A batch is written with as few REST requests as the data
 * needs; each item gets its own result: `fail` for an error the portal gives that item for good, `retry`
 * for one that passes (a rate limit or a lock on that command, a method blocked longer than we wait). A
 * portal that cannot be reached or refuses everything (connection, DNS, TLS, timeout, 5xx, 401/403,
 * access denied) throws ExchangeError SINK_UNAVAILABLE: the drain acks nothing of the batch and counts no
 * attempt, so an outage never walks the queue into the dlq.
 */
export class CrmSink implements Sink {
  readonly name = 'crm' as const;
  private readonly writers: Partial<Record<EntityType, Writer>> = {};

  constructor(readonly client: Bitrix24Client, private readonly context: SinkContext) {}

  async write(batch: Envelope[]): Promise<SinkItemResult[]> {
    // Several versions of one entity in a batch: only the newest is written, the rest are judged against it.
    const newest = new Map<string, Envelope>();
    for (const envelope of batch) {
      const key = `${envelope.type}\u0000${envelope.id}`;
      const seen = newest.get(key);
      if (!seen || compareVersions(envelope.version, seen.version) > 0) newest.set(key, envelope);
    }
    const results = new Map<Envelope, SinkItemResult>();
    const byType = new Map<EntityType, Envelope[]>();
    for (const envelope of newest.values()) byType.set(envelope.type, [...(byType.get(envelope.type) ?? []), envelope]);
    for (const [type, envelopes] of byType) {
      const write = () => this.writer(type).write(envelopes);
      try {
        const written = (await this.mayCreate(type, envelopes)) ? await withCreateLock(this.context.recordStore, type, write, { warn: (message) => this.context.reporter.warn(message) }) : await write();
        for (const [envelope, result] of written) results.set(envelope, result);
      } catch (error) {
        // A lookup request that failed as a whole: every item of the type waits in .retry, with the portal's reason.
        if (!(error instanceof Bitrix24TemporaryError)) throw error;
        for (const envelope of envelopes) results.set(envelope, { status: 'retry', reason: error.message, code: error.code, retryAfterMs: error.retryAfterMs });
      }
    }
    return batch.map((envelope): SinkItemResult => {
      const own = results.get(envelope);
      if (own) return own;
      const winner = newest.get(`${envelope.type}\u0000${envelope.id}`)!;
      const result = results.get(winner) ?? { status: 'retry', reason: 'no result from the CRM sink', code: 'CRM_NO_RESULT' };
      if (compareVersions(envelope.version, winner.version) < 0) return result.status === 'written' || result.status === 'unchanged' || result.status === 'stale' ? { status: 'stale' } : result;
      return result.status === 'written' ? { status: 'unchanged' } : result;
    });
  }

  async close(): Promise<void> {
    const { requests, commands, refused, operationLimited } = this.client.stats;
    if (requests > 0) this.context.reporter.debug(`crm: ${requests} requests, ${commands} commands, ${refused} refused, ${operationLimited} blocked`);
  }

  /** Whether some entity of the batch has no CRM id yet (so the write may create it). */
  private async mayCreate(type: EntityType, envelopes: Envelope[]): Promise<boolean> {
    const store = this.context.recordStore;
    const linked = await store.getLinks(type, 'crm', envelopes.map((e) => e.id));
    if (envelopes.some((e) => !linked.get(e.id))) return true;
    if (type !== 'mutualsettlements') return false;
    const orderIds = [...new Set(envelopes.flatMap((e) => (e.data?.orderIds ?? []) as string[]))];
    const orders = await store.getLinks('mutualsettlements', 'crm-order', orderIds);
    return orderIds.some((id) => !orders.get(id));
  }

  private writer(type: EntityType): Writer {
    const existing = this.writers[type];
    if (existing) return existing;
    const mappings = new CrmMappings(this.context.config.crm);
    const store = this.context.recordStore;
    const created: Writer = type === 'user'
      ? new CompanyWriter(this.client, store, mappings, this.context.reporter)
      : type === 'product'
        ? new ProductWriter(this.client, store, mappings, this.context.config.crm)
        : new DealWriter(this.client, store, mappings);
    this.writers[type] = created;
    return created;
  }
}

export const crmSinkPlugin: SinkPlugin = {
  name: 'crm',
  async open(context) {
    const crm = context.config.crm;
    if (!crm.webhookUrl) {
      throw new ExchangeError('CONFIG', 'the crm sink needs a Bitrix24 webhook', {
        details: ['crm.webhookUrl: required when a route uses the crm sink (or set EXCHANGE_BITRIX24_WEBHOOK)'],
        hint: 'create an incoming webhook with the crm and catalog scopes in Bitrix24 (Developer resources → Other → Incoming webhook)',
      });
    }
    if (context.config.routes.product.includes('crm') && crm.productIblockId === undefined) {
      throw new ExchangeError('CONFIG', 'the crm sink needs the catalog iblock for products', {
        details: ['crm.productIblockId: required when routes.product includes crm (catalog.catalog.list shows it)'],
      });
    }
    const client = new Bitrix24Client({
      webhookUrl: crm.webhookUrl,
      requestsPerSecond: crm.requestsPerSecond,
      burst: crm.burst,
      timeoutMs: crm.timeoutMs,
      reporter: context.reporter,
    });
    return new CrmSink(client, context);
  },
};
