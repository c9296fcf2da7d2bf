import type { ExchangeConfig } from '../../config/schema.js';

/**
 * Bumped whenever the mapping below changes: `setup --check` compares it with the `_meta` of the live
 * index, because a mapping cannot be changed in place and only `setup --reindex` moves documents onto a new one.
 */
export const productMappingVersion = 1;

const keyword = { type: 'keyword' } as const;
const russianText = { type: 'text', analyzer: 'russian' } as const;

/** The body of `PUT /<index>` for a product index version (DESIGN §8). */
export function productIndexDefinition(config: ExchangeConfig, alias?: string): Record<string, unknown> {
  return {
    settings: {
      number_of_shards: config.elasticsearch.shards,
      number_of_replicas: config.elasticsearch.replicas,
      // A delete leaves a versioned tombstone that refuses older upserts only this long (60 s by default); a
      // message retried or replayed from the dlq can be days older than its delete (see elasticsearch.gcDeletes).
      'index.gc_deletes': config.elasticsearch.gcDeletes,
    },
    mappings: {
      _meta: { owner: 'exchange', entity: 'product', mappingVersion: productMappingVersion },
      // Fields 1C adds that we do not know stay in _source but are not indexed: no mapping explosion and no
      // product refused for an extra field.
      dynamic: false,
      properties: {
        id: keyword,
        version: keyword,
        source: keyword,
        updatedAt: { type: 'date' },
        name: { ...russianText, fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
        description: russianText,
        sku: keyword,
        barcode: keyword,
        unit: keyword,
        groupIds: keyword,
        parentId: keyword,
        // nested: "price of type X below N" must match within one price, not across two.
        prices: {
          type: 'nested',
          properties: { typeId: keyword, type: keyword, currency: keyword, value: { type: 'double' } },
        },
        stock: { type: 'double' },
        // Free-form 1C properties: one field for all keys, searchable as keywords, whatever 1C names them.
        properties: { type: 'flattened' },
        characteristics: { type: 'nested', properties: { name: keyword, value: keyword } },
        deleted: { type: 'boolean' },
      },
    },
    ...(alias ? { aliases: { [alias]: {} } } : {}),
  };
}
