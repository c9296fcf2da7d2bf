import type { ExchangeConfig } from '../../config/schema.js';
import type { Envelope } from '../../messages/envelope.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import type { SinkItemResult } from '../sink.js';
import { ResultRef, type Bitrix24Client, type Bitrix24Command, type CommandOutcome } from './bitrix24-client.js';
import { resultOfError, runGroups, type CommandGroup } from './command-groups.js';
import { CrmLinks, newerThanWritten, type EntityLinks } from './crm-links.js';
import { lookupMany } from './crm-lookup.js';
import { shortHash, type CrmMappings } from './crm-mappings.js';

/**
 * product → catalog.product (xmlId = 1C id) and its base price (catalog.price). catalog.product has no
 * ORIGIN_VERSION, so the version guard uses the version last written, kept in links; a product found by
 * xmlId for the first time is overwritten (the CRM's copy came from 1C too). A deleted product is
 * deactivated, never removed (orders and deals may point at it), and nothing else of it is touched: a
 * delete carries no name or price, and mapping it would rename the product to its 1C id.
 *
 * catalog.product.add and .update answer `{element: {id, ...}}` (catalog-product-add.md), not `product`,
 * which only catalog.product.get uses; catalog.price.add and .update answer `{price: {id, ...}}`.
 */
export class ProductWriter {
  private readonly links: CrmLinks;
  private sequence = 0;

  constructor(private readonly client: Bitrix24Client, store: RecordStore, private readonly mappings: CrmMappings, private readonly config: ExchangeConfig['crm']) {
    this.links = new CrmLinks(store, 'product', 'crm-price');
  }

  async write(envelopes: Envelope[]): Promise<Map<Envelope, SinkItemResult>> {
    const results = new Map<Envelope, SinkItemResult>();
    const known = await this.links.load(envelopes.map((e) => e.id));
    const active = newerThanWritten(envelopes, (envelope) => ({ envelope, links: known.get(envelope.id)! }), results);
    if (active.length === 0) return results;

    const iblockId = this.config.productIblockId!;
    const [byXmlId] = await lookupMany(this.client, [
      { method: 'catalog.product.list', field: 'xmlId', values: active.filter((e) => !known.get(e.id)!.crmId).map((e) => e.id), filter: { iblockId }, select: ['iblockId'], rowsKey: 'products', idField: 'id' },
    ]);
    const productIdOf = (envelope: Envelope) => known.get(envelope.id)!.crmId ?? (byXmlId.found.get(envelope.id)?.[0] ? String(byXmlId.found.get(envelope.id)![0].id) : undefined);
    const isDelete = (e: Envelope) => e.op === 'delete';
    const needPrice = active.filter((e) => !isDelete(e) && productIdOf(e) && !known.get(e.id)!.partId && this.mappings.basePrice(e));
    const [prices] = await lookupMany(this.client, [
      { method: 'catalog.price.list', field: 'productId', filterKey: '@productId', values: needPrice.map((e) => productIdOf(e)!), filter: { catalogGroupId: this.config.priceTypeId }, select: ['price', 'currency'], rowsKey: 'prices', idField: 'id' },
    ]);

    const saved = new Map<string, EntityLinks>();
    const groups: CommandGroup[] = [];
    for (const envelope of active) {
      const links = known.get(envelope.id)!;
      const failure = byXmlId.failed.get(envelope.id);
      if (failure) {
        results.set(envelope, resultOfError(failure, 'catalog.product.list'));
        continue;
      }
      const productId = productIdOf(envelope);
      const fields = isDelete(envelope) ? { active: 'N' } : this.mappings.product(envelope);
      if (!productId && fields.active === 'N') {
        results.set(envelope, { status: 'unchanged' });
        continue;
      }
      const price = isDelete(envelope) ? undefined : this.mappings.basePrice(envelope);
      const priceHash = price ? shortHash(price) : undefined;
      const priceRow = productId ? prices.found.get(productId)?.[0] : undefined;
      const priceId = links.partId ?? (priceRow ? String(priceRow.id) : undefined);
      const key = `p${++this.sequence}`;
      const commands: Bitrix24Command[] = [productId
        ? { key, method: 'catalog.product.update', params: { id: productId, fields } }
        : { key, method: 'catalog.product.add', params: { fields } }];
      if (price && priceHash !== links.state.partHash && !(priceRow && Number(priceRow.price) === price.price && priceRow.currency === price.currency)) {
        const priceFields = { price: price.price, currency: price.currency };
        commands.push(priceId
          ? { method: 'catalog.price.update', params: { id: priceId, fields: priceFields } }
          : { method: 'catalog.price.add', params: { fields: { ...priceFields, catalogGroupId: this.config.priceTypeId, productId: productId ?? new ResultRef(key, ['element', 'id']) } } });
      }
      groups.push({
        commands,
        settle: (outcomes: CommandOutcome[]) => {
          const bad = outcomes.findIndex((o) => !o.ok);
          const newProductId = productId ?? (outcomes[0]?.ok ? elementId(outcomes[0].result) : undefined);
          const priceOutcome = outcomes[1];
          const newPriceId = priceId ?? (priceOutcome?.ok ? elementId(priceOutcome.result, 'price') : undefined);
          if (bad >= 0) {
            if (newProductId) saved.set(envelope.id, { crmId: newProductId, partId: newPriceId, state: { ...links.state, version: undefined } });
            if (bad === 0 && productId && /not exist/i.test(outcomes[0].ok ? '' : outcomes[0].description)) {
              saved.set(envelope.id, { crmId: '', partId: '', state: {} });
              results.set(envelope, { status: 'retry', reason: `catalog.product.update: product ${productId} no longer exists in the CRM; it will be created again`, code: 'CRM_NOT_FOUND' });
              return;
            }
            results.set(envelope, resultOfError(outcomes[bad], commands[bad].method));
            return;
          }
          saved.set(envelope.id, { crmId: newProductId, partId: newPriceId, state: { version: envelope.version, partHash: priceHash ?? links.state.partHash } });
          results.set(envelope, { status: 'written' });
        },
      });
    }
    try {
      await runGroups(this.client, groups);
    } finally {
      await this.links.save(saved);
    }
    return results;
  }
}

/** The id in a catalog.* write answer, `{element: {id}}` or `{price: {id}}`; a shape we do not know is an error, not a guess. */
function elementId(result: unknown, key = 'element'): string {
  const id = (result as Record<string, { id?: unknown } | undefined> | null)?.[key]?.id;
  if (id === undefined || id === null || id === '') throw new Error(`the CRM answered without ${key}.id: ${JSON.stringify(result)?.slice(0, 200)}`);
  return String(id);
}
