import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import type { ExchangeConfig } from '../../config/schema.js';
import { ExchangeError } from '../../errors.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import { externalVersion } from './external-version.js';
import { productIndexNames, type ProductIndexNames } from './index-names.js';
import { productIndexDefinition, productMappingVersion } from './product-index.js';
import { clusterDown, errorCause, requestFailure } from './request-failure.js';

/**
 * The product index's life cycle: a versioned index (`<alias>-v<n>`) behind the alias the sink writes
 * through. A mapping change never edits an index: `reindex` builds the next version and moves the alias.
 */
export class ProductIndexAdmin {
  readonly names: ProductIndexNames;

  constructor(private readonly client: Client, private readonly config: ExchangeConfig) {
    this.names = productIndexNames(config);
  }

  /** Creates `<alias>-v1` with the alias, or re-attaches the alias to the newest version; idempotent. */
  async ensure(): Promise<string[]> {
    return this.guard('setting up the product index', async () => {
      const { alias } = this.names;
      const targets = await this.aliasTargets();
      if (targets.length > 0) return [`elasticsearch alias ${alias} → ${targets.join(', ')}: ok`, ...(await this.alignGcDeletes(targets)), ...(await this.mappingProblems(targets))];
      await this.refuseIndexNamedLikeAlias();
      const versions = await this.existingVersions();
      if (versions.length > 0) {
        const newest = this.names.version(versions[versions.length - 1]);
        await this.client.indices.updateAliases({ actions: [{ add: { index: newest, alias } }] });
        return [`elasticsearch alias ${alias} → ${newest}: attached to the existing index`];
      }
      const first = this.names.version(1);
      try {
        // Index and alias in one request: nobody ever sees the index without its alias.
        await this.client.indices.create({ index: first, ...productIndexDefinition(this.config, alias) });
      } catch (error) {
        // Another `setup` created it a moment ago: fine, that is what we wanted.
        if (!isAlreadyExists(error)) throw error;
        return [`elasticsearch alias ${alias} → ${first}: ok`];
      }
      return [`elasticsearch index ${first} created (mapping version ${productMappingVersion}) behind the alias ${alias}`];
    });
  }

  /** Every difference between the cluster and what this build expects, one line each (empty: all fine). */
  async check(): Promise<string[]> {
    return this.guard('checking the product index', async () => {
      const { alias } = this.names;
      const targets = await this.aliasTargets();
      if (targets.length === 0) {
        const squatter = await this.client.indices.exists({ index: alias });
        return [squatter
          ? `elasticsearch: ${alias} is an index, not an alias (it was probably auto-created by a write before setup ran); reindex it into ${this.names.version(1)} and delete it`
          : `elasticsearch alias ${alias}: missing (run exchange setup)`];
      }
      const problems = [...(await this.mappingProblems(targets)), ...(await this.gcDeletesDrift(targets)).map(({ index, found }) =>
        `elasticsearch index ${index}: index.gc_deletes is ${found}, elasticsearch.gcDeletes says ${this.config.elasticsearch.gcDeletes} (run exchange setup)`)];
      if (targets.length > 1) problems.push(`elasticsearch alias ${alias} points to ${targets.length} indices (${targets.join(', ')}); writes need exactly one`);
      return problems;
    });
  }

  /**
   * Builds the next index version with the current mapping, copies the documents with their versions,
   * moves the alias in one `_aliases` call, then copies again what was written to the old index in between.
   * A copy reads a snapshot and carries no deletes, and the new index has none of the old one's tombstones: so
   * at the end every product the record store knows deleted is deleted in the new index with its version (a
   * newer document there wins). The old index is kept (the way back is one alias swap); deleting it is the
   * operator's call.
   */
  async reindex(store?: RecordStore): Promise<string[]> {
    return this.guard('reindexing the product index', async () => {
      const { alias } = this.names;
      const targets = await this.aliasTargets();
      if (targets.length !== 1) {
        throw new ExchangeError('TOPOLOGY_MISMATCH', targets.length === 0 ? `the alias ${alias} does not exist: nothing to reindex` : `the alias ${alias} points to ${targets.join(', ')}: reindex needs exactly one`, {
          hint: targets.length === 0 ? 'run `exchange setup` first' : 'point the alias at one index by hand (POST /_aliases), then run again',
        });
      }
      const [old] = targets;
      const versions = await this.existingVersions();
      const next = this.names.version(Math.max(0, ...versions, this.names.versionOf(old) ?? 0) + 1);
      await this.client.indices.create({ index: next, ...productIndexDefinition(this.config) });
      const copied = await this.copy(old, next);
      await this.client.indices.updateAliases({ actions: [{ remove: { index: old, alias } }, { add: { index: next, alias } }] });
      const caughtUp = await this.copy(old, next);
      const deletes = store ? await this.applyStoredDeletes(store, next) : undefined;
      return [
        `elasticsearch index ${next} created (mapping version ${productMappingVersion})`,
        `copied ${copied.created + copied.updated} documents from ${old} to ${next}`,
        `elasticsearch alias ${alias} → ${next} (was ${old})`,
        ...(caughtUp.created + caughtUp.updated > 0 ? [`copied ${caughtUp.created + caughtUp.updated} documents written to ${old} during the copy`] : []),
        ...(deletes ? [`applied ${deletes.applied} delete${deletes.applied === 1 ? '' : 's'} known to the record store to ${next}${deletes.newer > 0 ? ` (${deletes.newer} left alone: the index holds a newer version)` : ''}`]
          : ['the record store was not consulted: deletes made during the copy may be back in the new index']),
        `the old index ${old} is kept: swap the alias back to undo, or DELETE /${old} when sure`,
      ];
    });
  }

  /**
   * Deletes, with their versions, the products the record store holds as deleted: `external_gte` leaves a
   * tombstone where the document is absent and refuses (409) where the index holds a newer version.
   */
  private async applyStoredDeletes(store: RecordStore, index: string): Promise<{ applied: number; newer: number }> {
    let applied = 0;
    let newer = 0;
    let afterId: string | undefined;
    for (;;) {
      const page = await store.list('product', { limit: 1000, afterId });
      if (page.length === 0) break;
      afterId = page[page.length - 1].id;
      const deletes = page.flatMap((record) => {
        const version = record.deleted ? externalVersion(record.version) : undefined;
        return version === undefined ? [] : [{ delete: { _index: index, _id: record.id, version, version_type: 'external_gte' as const } }];
      });
      if (deletes.length === 0) continue;
      const response = await this.client.bulk({ operations: deletes });
      for (const item of response.items) {
        const outcome = item.delete!;
        if (outcome.status < 300 || (outcome.status === 404 && !outcome.error)) applied++;
        else if (outcome.status === 409) newer++;
        else {
          throw new ExchangeError('INTERNAL', `deleting ${outcome._id} in ${index}: ${outcome.error?.type ?? outcome.status}: ${outcome.error?.reason ?? ''}; the alias already points to ${index}, run setup --reindex again`);
        }
      }
    }
    return { applied, newer };
  }

  private async copy(from: string, to: string): Promise<{ created: number; updated: number }> {
    // version_type external keeps each document's version, so a newer copy already in `to` is never overwritten;
    // such conflicts are expected and skipped. The task form survives catalogs that take longer than one request.
    const started = await this.client.reindex({
      source: { index: from },
      dest: { index: to, version_type: 'external' },
      conflicts: 'proceed',
      wait_for_completion: false,
    });
    const taskId = String(started.task);
    // Polled without wait_for_completion: a wait that outlasts its timeout is answered 429
    // (elasticsearch_timeout_exception), which would read as an overloaded cluster.
    for (let pause = 200; ; pause = Math.min(pause * 2, 5000)) {
      const task = await this.client.tasks.get({ task_id: taskId });
      if (task.error) throw new ExchangeError('INTERNAL', `copying ${from} to ${to} failed: ${errorCause({ error: task.error }).reason ?? JSON.stringify(task.error)}`);
      if (task.completed) {
        const response = (task.response ?? {}) as { created?: number; updated?: number; failures?: unknown[] };
        if (response.failures && response.failures.length > 0) {
          throw new ExchangeError('INTERNAL', `copying ${from} to ${to}: ${response.failures.length} documents failed, the alias was not moved: ${JSON.stringify(response.failures[0])}`);
        }
        return { created: response.created ?? 0, updated: response.updated ?? 0 };
      }
      await sleep(pause);
    }
  }

  private async aliasTargets(): Promise<string[]> {
    const body = (await this.client.indices.getAlias({ name: this.names.alias }, { ignore: [404] })) as unknown as Record<string, { aliases?: Record<string, unknown> }>;
    return Object.entries(body)
      .filter(([, value]) => typeof value === 'object' && value !== null && value.aliases && this.names.alias in value.aliases)
      .map(([index]) => index)
      .sort();
  }

  private async existingVersions(): Promise<number[]> {
    const body = await this.client.indices.get({ index: `${this.names.alias}-v*`, expand_wildcards: 'all' });
    return Object.keys(body).map((index) => this.names.versionOf(index)).filter((n): n is number => n !== undefined).sort((a, b) => a - b);
  }

  /** Indices whose `index.gc_deletes` is not the configured one (absent = Elasticsearch's 60 s default). */
  private async gcDeletesDrift(indices: string[]): Promise<Array<{ index: string; found: string }>> {
    const settings = await this.client.indices.getSettings({ index: indices });
    return indices.flatMap((index) => {
      const found = String(settings[index]?.settings?.index?.gc_deletes ?? '60s');
      return found === this.config.elasticsearch.gcDeletes ? [] : [{ index, found }];
    });
  }

  /** gc_deletes is dynamic: an index created by an older build (or by hand) gets the configured value in place. */
  private async alignGcDeletes(indices: string[]): Promise<string[]> {
    const drift = await this.gcDeletesDrift(indices);
    if (drift.length === 0) return [];
    const gcDeletes = this.config.elasticsearch.gcDeletes;
    await this.client.indices.putSettings({ index: drift.map(({ index }) => index), settings: { index: { gc_deletes: gcDeletes } } });
    return drift.map(({ index, found }) => `elasticsearch index ${index}: index.gc_deletes ${found} → ${gcDeletes}`);
  }

  private async mappingProblems(indices: string[]): Promise<string[]> {
    const mappings = await this.client.indices.getMapping({ index: indices });
    return indices.flatMap((index) => {
      const found = Number((mappings[index]?.mappings?._meta as { mappingVersion?: unknown } | undefined)?.mappingVersion ?? 0);
      return found === productMappingVersion ? [] : [`elasticsearch index ${index}: mapping version ${found}, this build writes version ${productMappingVersion} (run exchange setup --reindex)`];
    });
  }

  private async refuseIndexNamedLikeAlias(): Promise<void> {
    if (await this.client.indices.exists({ index: this.names.alias })) {
      throw new ExchangeError('TOPOLOGY_MISMATCH', `${this.names.alias} is an index, not an alias: it was probably auto-created by a write before setup ran`, {
        hint: `reindex it into ${this.names.version(1)}, delete it, then run \`exchange setup\` again`,
      });
    }
  }

  private async guard<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof ExchangeError) throw error;
      const failure = requestFailure(error);
      if (failure.kind === 'down') throw clusterDown(this.config.elasticsearch.node ?? '', failure, doing);
      throw new ExchangeError('INTERNAL', `Elasticsearch refused ${doing}: ${failure.reason}`, { cause: error });
    }
  }
}

function isAlreadyExists(error: unknown): boolean {
  const body = (error as { body?: unknown }).body;
  return errorCause(body).type === 'resource_already_exists_exception';
}
