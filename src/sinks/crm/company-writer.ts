import type { Reporter } from '../../jobs/reporter.js';
import type { Envelope } from '../../messages/envelope.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import type { SinkItemResult } from '../sink.js';
import { ResultRef, type Bitrix24Client, type Bitrix24Command, type CommandOutcome } from './bitrix24-client.js';
import { resultOfError, runGroups, type CommandGroup } from './command-groups.js';
import { compareVersions } from '../../recordstore/versioning.js';
import { CrmLinks, newerThanWritten, type EntityLinks } from './crm-links.js';
import { lookupMany } from './crm-lookup.js';
import { shortHash, type CrmMappings } from './crm-mappings.js';

type Row = Record<string, unknown>;
interface MultiValue { ID?: string; VALUE?: string; VALUE_TYPE?: string }

/**
 * user → crm.company (+ crm.requisite for INN/KPP). Known companies are updated by their linked id in
 * one command; unknown ones are looked up by ORIGIN_ID (and their requisites by XML_ID) in batched list
 * calls before anything is created, so nothing is created twice. The requisite and the multi-fields are
 * written only when their content changed.
 */
export class CompanyWriter {
  private readonly links: CrmLinks;
  private sequence = 0;

  constructor(private readonly client: Bitrix24Client, store: RecordStore, private readonly mappings: CrmMappings, private readonly reporter: Reporter) {
    this.links = new CrmLinks(store, 'user', 'crm-requisite');
  }

  async write(envelopes: Envelope[]): Promise<Map<Envelope, SinkItemResult>> {
    const results = new Map<Envelope, SinkItemResult>();
    const upserts: Envelope[] = [];
    for (const envelope of envelopes) {
      // Companies are not deleted from the CRM: deals and history hang on them; the record store keeps the deletion.
      if (envelope.op === 'delete') results.set(envelope, { status: 'unchanged' });
      else upserts.push(envelope);
    }
    if (upserts.length === 0) return results;
    const known = await this.links.load(upserts.map((e) => e.id));

    const plans = upserts.map((envelope) => {
      const links = known.get(envelope.id)!;
      const company = this.mappings.company(envelope);
      const requisite = this.mappings.requisite(envelope);
      return {
        envelope, links, company, requisite,
        requisiteHash: requisite ? shortHash(requisite) : undefined,
        contactsHash: shortHash(company.contacts),
      };
    });

    const active = newerThanWritten(plans, (plan) => plan, results);
    if (active.length === 0) return results;

    const hasContacts = (plan: (typeof plans)[number]) => Object.values(plan.company.contacts).some((list) => list.length > 0) || plan.links.state.contactsHash !== undefined;
    const contactFields = [...new Set(active.flatMap((plan) => Object.keys(plan.company.contacts)))];
    const unlinked = active.filter((plan) => !plan.links.crmId);
    const needRequisite = active.filter((plan) => plan.requisite && !plan.links.partId);
    const needContacts = active.filter((plan) => plan.links.crmId && hasContacts(plan) && plan.contactsHash !== plan.links.state.contactsHash);
    const [byOrigin, requisites, contacts] = await lookupMany(this.client, [
      { method: 'crm.company.list', field: 'ORIGIN_ID', values: unlinked.map((p) => p.envelope.id), select: ['ORIGIN_VERSION', ...contactFields] },
      { method: 'crm.requisite.list', field: 'XML_ID', values: needRequisite.map((p) => p.envelope.id), filter: { ENTITY_TYPE_ID: 4 }, select: ['ENTITY_ID', ...new Set(needRequisite.flatMap((p) => Object.keys(p.requisite!)))] },
      { method: 'crm.company.list', field: 'ID', values: needContacts.map((p) => p.links.crmId!), select: contactFields },
    ]);

    const groups: CommandGroup[] = [];
    const saved = new Map<string, EntityLinks>();
    for (const plan of active) {
      const { envelope, links } = plan;
      const lookupFailure = byOrigin.failed.get(envelope.id) ?? requisites.failed.get(envelope.id) ?? (links.crmId ? contacts.failed.get(links.crmId) : undefined);
      if (lookupFailure) {
        results.set(envelope, resultOfError(lookupFailure, 'crm.company.list'));
        continue;
      }
      const found = links.crmId ? undefined : byOrigin.found.get(envelope.id)?.[0];
      const companyId = links.crmId ?? (found ? String(found.ID) : undefined);
      const foundRequisite = requisites.found.get(envelope.id)?.find((row) => !companyId || String(row.ENTITY_ID) === companyId);
      const requisiteId = links.partId ?? (foundRequisite ? String(foundRequisite.ID) : undefined);

      if (found && typeof found.ORIGIN_VERSION === 'string' && found.ORIGIN_VERSION !== '') {
        const order = compareVersions(found.ORIGIN_VERSION, envelope.version);
        if (order >= 0) {
          // The CRM already holds this version or a newer one: remember where it is, write nothing.
          results.set(envelope, { status: order > 0 ? 'stale' : 'unchanged' });
          saved.set(envelope.id, { crmId: companyId, partId: requisiteId, state: { version: found.ORIGIN_VERSION } });
          continue;
        }
      }

      const commands: Bitrix24Command[] = [];
      const roles: Array<'company' | 'requisite'> = [];
      const key = `u${++this.sequence}`;
      const existingContacts = links.crmId ? contacts.found.get(links.crmId)?.[0] : found;
      const writeContacts = !links.crmId || plan.contactsHash !== links.state.contactsHash;
      const fields: Row = { ...plan.company.fields };
      if (writeContacts) {
        for (const [field, values] of Object.entries(plan.company.contacts)) {
          const merged = mergeMulti((existingContacts?.[field] ?? []) as MultiValue[], values);
          if (merged.length > 0) fields[field] = merged;
        }
      }
      if (companyId) commands.push({ key, method: 'crm.company.update', params: { id: companyId, fields, params: { REGISTER_SONET_EVENT: 'N' } } });
      else commands.push({ key, method: 'crm.company.add', params: { fields, params: { REGISTER_SONET_EVENT: 'N' } } });
      roles.push('company');

      let requisiteHash = links.state.partHash;
      if (plan.requisite) {
        if (requisiteId && (links.state.partHash === plan.requisiteHash || (foundRequisite && sameValues(foundRequisite, plan.requisite)))) {
          requisiteHash = plan.requisiteHash;
        } else if (requisiteId) {
          commands.push({ method: 'crm.requisite.update', params: { id: requisiteId, fields: plan.requisite } });
          roles.push('requisite');
        } else {
          commands.push({ method: 'crm.requisite.add', params: { fields: { ...plan.requisite, ENTITY_TYPE_ID: 4, ENTITY_ID: companyId ?? new ResultRef(key) } } });
          roles.push('requisite');
        }
      }

      groups.push({
        commands,
        settle: (outcomes: CommandOutcome[]) => {
          let newCompanyId = companyId;
          let newRequisiteId = requisiteId;
          let failure: SinkItemResult | undefined;
          outcomes.forEach((outcome, index) => {
            const method = commands[index].method;
            if (!outcome.ok) {
              failure ??= resultOfError(outcome, method);
              if (roles[index] === 'company' && companyId && /not found/i.test(outcome.description)) {
                // Deleted in the CRM since we linked it: forget the link so the next attempt looks it up and creates it.
                saved.set(envelope.id, { crmId: '', partId: '', state: {} });
                failure = { status: 'retry', reason: `crm.company.update: company ${companyId} no longer exists in the CRM; it will be created again`, code: 'CRM_NOT_FOUND' };
              }
              return;
            }
            if (roles[index] === 'company' && !companyId) newCompanyId = String(outcome.result);
            if (roles[index] === 'requisite') {
              if (!requisiteId) newRequisiteId = String(outcome.result);
              requisiteHash = plan.requisiteHash;
            }
          });
          if (saved.has(envelope.id)) {
            results.set(envelope, failure!);
            return;
          }
          if (failure) {
            // A partial write keeps the ids it made but not the version: the retry writes the rest.
            if (newCompanyId) saved.set(envelope.id, { crmId: newCompanyId, partId: newRequisiteId, state: { ...links.state, version: undefined } });
            results.set(envelope, failure);
            return;
          }
          saved.set(envelope.id, {
            crmId: newCompanyId,
            partId: newRequisiteId,
            state: { version: envelope.version, partHash: requisiteHash, contactsHash: writeContacts ? plan.contactsHash : links.state.contactsHash },
          });
          results.set(envelope, { status: 'written' });
        },
      });
    }

    try {
      await runGroups(this.client, groups);
    } finally {
      // Whatever was created is remembered even when the run stops, so a rerun never creates it twice.
      await this.links.save(saved);
    }
    this.reporter.debug(`crm: ${active.length} companies, ${groups.reduce((n, g) => n + g.commands.length, 0)} write commands`);
    return results;
  }
}

/** Multi-field values in Bitrix24's update form: existing ones replaced by ID, extras deleted, new ones added. */
function mergeMulti(existing: MultiValue[], wanted: string[]): MultiValue[] {
  const current: MultiValue[] = Array.isArray(existing) ? existing : Object.values((existing ?? {}) as Record<string, MultiValue>);
  if (current.length === wanted.length && current.every((item, index) => item.VALUE === wanted[index])) return [];
  const out: MultiValue[] = [];
  wanted.forEach((value, index) => {
    const item = current[index];
    out.push(item?.ID ? { ID: item.ID, VALUE: value, VALUE_TYPE: item.VALUE_TYPE ?? 'WORK' } : { VALUE: value, VALUE_TYPE: 'WORK' });
  });
  for (const item of current.slice(wanted.length)) if (item.ID) out.push({ ID: item.ID, DELETE: 'Y' } as MultiValue);
  return out;
}

function sameValues(row: Row, wanted: Record<string, unknown>): boolean {
  return Object.entries(wanted).every(([key, value]) => String(row[key] ?? '') === String(value ?? ''));
}
