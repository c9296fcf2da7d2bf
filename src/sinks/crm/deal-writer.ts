import type { Envelope } from '../../messages/envelope.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import type { SinkItemResult } from '../sink.js';
import type { Bitrix24Client, Bitrix24Command, CommandOutcome } from './bitrix24-client.js';
import { resultOfError, runGroups, type CommandGroup } from './command-groups.js';
import { CrmLinks, newerThanWritten, type EntityLinks } from './crm-links.js';
import { lookupMany } from './crm-lookup.js';
import type { CrmMappings } from './crm-mappings.js';

/**
 * mutualsettlements → crm.deal (ORIGIN_ID = document id, COMPANY_ID = the counterparty's company) and one
 * deal per order the document names (ORIGIN_ID = order id, same company, the order funnel). Orders are
 * created once and then left alone: the document names them but does not describe them.
 */
export class DealWriter {
  private readonly links: CrmLinks;

  constructor(private readonly client: Bitrix24Client, private readonly store: RecordStore, private readonly mappings: CrmMappings) {
    this.links = new CrmLinks(store, 'mutualsettlements');
  }

  async write(envelopes: Envelope[]): Promise<Map<Envelope, SinkItemResult>> {
    const results = new Map<Envelope, SinkItemResult>();
    const upserts = envelopes.filter((envelope) => {
      if (envelope.op === 'delete') results.set(envelope, { status: 'unchanged' });
      return envelope.op !== 'delete';
    });
    if (upserts.length === 0) return results;
    const known = await this.links.load(upserts.map((e) => e.id));
    const active = newerThanWritten(upserts, (envelope) => ({ envelope, links: known.get(envelope.id)! }), results);
    if (active.length === 0) return results;

    const counterpartyOf = (e: Envelope) => (e.data?.counterpartyId as string | undefined) || undefined;
    const ordersOf = (e: Envelope) => [...new Set(((e.data?.orderIds ?? []) as string[]).filter(Boolean))];
    const counterparties = [...new Set(active.map(counterpartyOf).filter((id): id is string => !!id))];
    const companyLinks = await this.store.getLinks('user', 'crm', counterparties);
    const orderIds = [...new Set(active.flatMap(ordersOf))];
    // Orders have no entity type of their own in the record store: their links live beside the documents' under their own target.
    const orderKnown = await this.store.getLinks('mutualsettlements', 'crm-order', orderIds);
    const [companies, deals, orders] = await lookupMany(this.client, [
      { method: 'crm.company.list', field: 'ORIGIN_ID', values: counterparties.filter((id) => !companyLinks.get(id)), select: [] },
      { method: 'crm.deal.list', field: 'ORIGIN_ID', values: active.filter((e) => !known.get(e.id)!.crmId).map((e) => e.id), select: ['COMPANY_ID'] },
      { method: 'crm.deal.list', field: 'ORIGIN_ID', values: orderIds.filter((id) => !orderKnown.get(id)), select: ['COMPANY_ID'] },
    ]);
    const companyOf = (id: string) => companyLinks.get(id) || (companies.found.get(id)?.[0] ? String(companies.found.get(id)![0].ID) : undefined);
    const foundCompanies = new Map<string, string>();
    for (const id of counterparties) if (!companyLinks.get(id) && companyOf(id)) foundCompanies.set(id, companyOf(id)!);
    await this.store.setLinks('user', 'crm', foundCompanies);

    const saved = new Map<string, EntityLinks>();
    const savedOrders = new Map<string, string>();
    const createdOrders = new Set<string>();
    const groups: CommandGroup[] = [];
    for (const envelope of active) {
      const links = known.get(envelope.id)!;
      const counterparty = counterpartyOf(envelope);
      const failed = (counterparty ? companies.failed.get(counterparty) : undefined) ?? deals.failed.get(envelope.id) ?? ordersOf(envelope).map((id) => orders.failed.get(id)).find(Boolean);
      if (failed) {
        results.set(envelope, resultOfError(failed, 'crm.deal.list'));
        continue;
      }
      const companyId = counterparty ? companyOf(counterparty) : undefined;
      if (counterparty && !companyId) {
        // The user queue may simply be behind: wait for the company rather than write a deal without it.
        results.set(envelope, { status: 'retry', reason: `the counterparty ${counterparty} is not in the CRM yet`, code: 'CRM_COUNTERPARTY_MISSING' });
        continue;
      }
      const dealId = links.crmId ?? (deals.found.get(envelope.id)?.[0] ? String(deals.found.get(envelope.id)![0].ID) : undefined);
      const fields = this.mappings.deal(envelope, companyId);
      const commands: Bitrix24Command[] = [dealId
        ? { method: 'crm.deal.update', params: { id: dealId, fields, params: { REGISTER_SONET_EVENT: 'N' } } }
        : { method: 'crm.deal.add', params: { fields, params: { REGISTER_SONET_EVENT: 'N' } } }];
      const newOrders: string[] = [];
      for (const orderId of ordersOf(envelope)) {
        if (orderKnown.get(orderId) || orders.found.has(orderId) || createdOrders.has(orderId)) continue;
        createdOrders.add(orderId);
        newOrders.push(orderId);
        commands.push({ method: 'crm.deal.add', params: { fields: this.mappings.order(orderId, envelope.source, companyId), params: { REGISTER_SONET_EVENT: 'N' } } });
      }
      for (const orderId of ordersOf(envelope)) {
        const row = orders.found.get(orderId)?.[0];
        if (row) savedOrders.set(orderId, String(row.ID));
      }
      groups.push({
        commands,
        settle: (outcomes: CommandOutcome[]) => {
          outcomes.slice(1).forEach((outcome, index) => {
            if (outcome.ok) savedOrders.set(newOrders[index], String(outcome.result));
            else createdOrders.delete(newOrders[index]);
          });
          if (dealId && outcomes[0] && !outcomes[0].ok && /not found/i.test(outcomes[0].description)) {
            // Deleted in the CRM since we linked it: forget the link, so that the next attempt looks it up and creates it.
            saved.set(envelope.id, { crmId: '', state: {} });
            results.set(envelope, { status: 'retry', reason: `crm.deal.update: deal ${dealId} no longer exists in the CRM; it will be created again`, code: 'CRM_NOT_FOUND' });
            return;
          }
          const newDealId = dealId ?? (outcomes[0]?.ok ? String(outcomes[0].result) : undefined);
          const bad = outcomes.findIndex((o) => !o.ok);
          if (bad >= 0) {
            if (newDealId) saved.set(envelope.id, { crmId: newDealId, state: { ...links.state, version: undefined } });
            results.set(envelope, resultOfError(outcomes[bad], commands[bad].method));
            return;
          }
          saved.set(envelope.id, { crmId: newDealId, state: { version: envelope.version } });
          results.set(envelope, { status: 'written' });
        },
      });
    }
    try {
      await runGroups(this.client, groups);
    } finally {
      await this.links.save(saved);
      await this.store.setLinks('mutualsettlements', 'crm-order', savedOrders);
    }
    return results;
  }
}
