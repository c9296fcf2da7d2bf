import type { Client, estypes } from '@elastic/elasticsearch';
import type { ExchangeConfig } from '../../config/schema.js';
import { ExchangeError } from '../../errors.js';
import type { Envelope } from '../../messages/envelope.js';
import type { RecordStore } from '../../recordstore/record-store.js';
import { entityTypes } from '../../messages/entity-types.js';
import type { Sink, SinkItemResult, SinkPlugin } from '../sink.js';
import { openElasticsearchClient } from './elasticsearch-client.js';
import { externalVersion } from './external-version.js';
import { productIndexNames } from './index-names.js';
import { ProductIndexAdmin } from './product-index-admin.js';
import { productDocument } from './product-document.js';
import { clusterDown, requestFailure } from './request-failure.js';

/**
 * Products into the search index through its alias, one `_bulk` per batch (DESIGN §8). Each document is
 * written with the envelope's version as an external version (`external_gte`), so Elasticsearch itself refuses
 * an older version (409, counted `stale`) however the messages are reordered or redelivered, and an equal
 * version simply rewrites the same document: redelivery never duplicates, `_id` is the 1C id.
 */
export class ElasticsearchSink implements Sink {
  readonly name = 'elasticsearch' as const;

  constructor(private readonly client: Client, private readonly alias: string, private readonly node: string) {}

  async write(batch: Envelope[]): Promise<SinkItemResult[]> {
    const results: SinkItemResult[] = new Array(batch.length);
    const writable: number[] = [];
    batch.forEach((envelope, index) => {
      if (envelope.type !== 'product') {
        results[index] = { status: 'fail', code: 'ES_UNSUPPORTED_TYPE', reason: `the elasticsearch sink indexes products, not ${envelope.type}` };
      } else if (externalVersion(envelope.version) === undefined) {
        results[index] = { status: 'fail', code: 'ES_VERSION_UNORDERED', reason: `version "${envelope.version}" is neither an ISO-8601 time nor a counter, so it cannot guard against stale writes` };
      } else {
        writable.push(index);
      }
    });
    await this.bulk(batch, writable, results);
    return results;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async bulk(batch: Envelope[], indices: number[], results: SinkItemResult[]): Promise<void> {
    if (indices.length === 0) return;
    const operations: Array<estypes.BulkOperationContainer | Record<string, unknown>> = [];
    for (const index of indices) {
      const envelope = batch[index];
      const meta = { _id: envelope.id, version: externalVersion(envelope.version)!, version_type: 'external_gte' as const };
      if (envelope.op === 'delete') operations.push({ delete: meta });
      else operations.push({ index: meta }, productDocument(envelope));
    }
    let items: Array<Partial<Record<string, estypes.BulkResponseItem>>>;
    try {
      // require_alias: without it a write before `setup` would auto-create a concrete index named like the
      // alias, with a guessed mapping, and the alias could never be created afterwards.
      items = (await this.client.bulk({ index: this.alias, operations, require_alias: true })).items;
    } catch (error) {
      const failure = requestFailure(error);
      if (failure.kind === 'down') throw clusterDown(this.node, failure, `writing ${indices.length} products`);
      // A request refused as a whole (too large, or one item that breaks the request): halve it until the
      // culprit stands alone, so that only it fails.
      if (indices.length > 1) {
        const middle = Math.ceil(indices.length / 2);
        await this.bulk(batch, indices.slice(0, middle), results);
        await this.bulk(batch, indices.slice(middle), results);
        return;
      }
      results[indices[0]] = { status: 'fail', code: `ES_${(failure.type ?? `HTTP_${failure.status}`).toUpperCase()}`, reason: failure.reason };
      return;
    }
    if (items.length !== indices.length) throw new Error(`Elasticsearch answered ${items.length} items for ${indices.length} operations`);
    items.forEach((item, k) => {
      const [operation, outcome] = Object.entries(item)[0] as [string, estypes.BulkResponseItem];
      results[indices[k]] = this.itemResult(operation, outcome);
    });
  }

  private itemResult(operation: string, item: estypes.BulkResponseItem): SinkItemResult {
    const { status, error } = item;
    if (status < 300) return { status: item.result === 'noop' ? 'unchanged' : 'written' };
    // A delete of a document that is not there has still left a versioned tombstone: the goal is reached.
    if (operation === 'delete' && status === 404 && !error) return { status: 'written' };
    const type = error?.type ?? `http_${status}`;
    const reason = `${type}: ${error?.reason ?? `status ${status}`}${error?.caused_by ? ` (caused by ${error.caused_by.type}: ${error.caused_by.reason ?? ''})` : ''}`;
    if (type === 'index_not_found_exception') {
      throw new ExchangeError('TOPOLOGY_MISMATCH', `the Elasticsearch alias ${this.alias} does not exist: ${reason}`, {
        hint: 'run `exchange setup` to create the product index and its alias; nothing was acked',
      });
    }
    if (status === 401 || status === 403) throw clusterDown(this.node, { kind: 'down', status, reason }, `writing to ${this.alias}`);
    if (status === 409) return { status: 'stale' };
    if (status === 429) return { status: 'retry', code: 'ES_RATE_LIMITED', reason };
    if (status >= 500) return { status: 'retry', code: 'ES_UNAVAILABLE', reason };
    return { status: 'fail', code: `ES_${type.toUpperCase()}`, reason };
  }
}

/** The search index is a product index: routing another type to it is a configuration mistake, not a poison message. */
function refuseOtherTypes(config: ExchangeConfig): void {
  const wrong = entityTypes.filter((type) => type !== 'product' && config.routes[type].includes('elasticsearch'));
  if (wrong.length > 0) {
    throw new ExchangeError('CONFIG', 'the elasticsearch sink indexes products only', {
      details: wrong.map((type) => `routes.${type}: the elasticsearch sink indexes products only`),
    });
  }
}

async function withAdmin(config: ExchangeConfig, action: (admin: ProductIndexAdmin) => Promise<string[]>): Promise<string[]> {
  const client = openElasticsearchClient(config);
  try {
    return await action(new ProductIndexAdmin(client, config));
  } finally {
    await client.close();
  }
}

export const elasticsearchSinkPlugin: SinkPlugin = {
  name: 'elasticsearch',
  async open({ config }) {
    refuseOtherTypes(config);
    return new ElasticsearchSink(openElasticsearchClient(config), productIndexNames(config).alias, config.elasticsearch.node!);
  },
  async setup({ config }) {
    refuseOtherTypes(config);
    return withAdmin(config, (admin) => admin.ensure());
  },
  async check({ config }) {
    return withAdmin(config, (admin) => admin.check());
  },
};

/** `exchange setup --reindex`; the record store's deleted products are carried into the new index version. */
export function reindexProducts(config: ExchangeConfig, store?: RecordStore): Promise<string[]> {
  return withAdmin(config, (admin) => admin.reindex(store));
}
