import type { Envelope } from '../../messages/envelope.js';
import type { SinkItemResult } from '../sink.js';
import type { EntityType } from '../../messages/entity-types.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import { compareVersions } from '../../recordstore/versioning.js';

/**
 * What the sink remembers about an entity it wrote, in the record store's `links`: the CRM id (target
 * `crm`), a second id (`crm-requisite`, `crm-price`) and a small JSON state (`crm-state`): the version
 * last written and hashes of the parts that are written only when they change. With these an update is
 * one command and needs no read.
 */
export interface LinkState {
  version?: string;
  /** Hash of the requisite or price fields last written. */
  partHash?: string;
  /** Hash of the multi-field values (PHONE, EMAIL) last written. */
  contactsHash?: string;
}

export interface EntityLinks {
  crmId?: string;
  partId?: string;
  state: LinkState;
}

export class CrmLinks {
  constructor(private readonly store: RecordStore, private readonly type: EntityType, private readonly partTarget?: string) {}

  async load(ids: string[]): Promise<Map<string, EntityLinks>> {
    // One statement for all targets: another consumer saves them together, so a reader never sees an id
    // without the state that belongs to it.
    const targets = ['crm', 'crm-state', ...(this.partTarget ? [this.partTarget] : [])];
    const links = await this.store.getLinkTargets(this.type, targets, ids);
    const crm = links.get('crm')!;
    const state = links.get('crm-state')!;
    const part = this.partTarget ? links.get(this.partTarget)! : new Map<string, string>();
    const out = new Map<string, EntityLinks>();
    for (const id of ids) {
      out.set(id, { crmId: crm.get(id) || undefined, partId: part.get(id) || undefined, state: parseState(state.get(id)) });
    }
    return out;
  }

  async save(entries: Map<string, EntityLinks>): Promise<void> {
    if (entries.size === 0) return;
    const crm = new Map<string, string>();
    const part = new Map<string, string>();
    const state = new Map<string, string>();
    for (const [id, links] of entries) {
      // An empty id forgets a link (the entity was deleted in the CRM): the next attempt looks it up again.
      if (links.crmId !== undefined) crm.set(id, links.crmId);
      if (links.partId !== undefined) part.set(id, links.partId);
      state.set(id, JSON.stringify(links.state));
    }
    await this.store.transaction(async (tx) => {
      await tx.setLinks(this.type, 'crm', crm);
      if (this.partTarget && part.size > 0) await tx.setLinks(this.type, this.partTarget, part);
      await tx.setLinks(this.type, 'crm-state', state);
    });
  }
}

function parseState(text: string | undefined): LinkState {
  if (!text) return {};
  try {
    return JSON.parse(text) as LinkState;
  } catch {
    return {};
  }
}


/**
 * The version guard of every CRM writer: a linked entity whose last written version is newer is `stale`,
 * the same version is `unchanged` (a redelivery), and only the rest goes on to be written.
 */
export function newerThanWritten<T>(items: T[], describe: (item: T) => { envelope: Envelope; links: EntityLinks }, results: Map<Envelope, SinkItemResult>): T[] {
  return items.filter((item) => {
    const { envelope, links } = describe(item);
    if (!links.crmId || !links.state.version) return true;
    const order = compareVersions(links.state.version, envelope.version);
    if (order > 0) results.set(envelope, { status: 'stale' });
    else if (order === 0) results.set(envelope, { status: 'unchanged' });
    return order < 0;
  });
}
