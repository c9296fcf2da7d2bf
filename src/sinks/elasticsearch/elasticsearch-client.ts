import { Client, errors } from '@elastic/elasticsearch';
import type { ExchangeConfig } from '../../config/schema.js';
import { ExchangeError } from '../../errors.js';

/**
 * One client per job. Basic auth goes in the node URL (`https://user:password@host:9200`), whose password is
 * masked like every URL secret; an API key goes in `elasticsearch.apiKey`.
 */
export function openElasticsearchClient(config: ExchangeConfig): Client {
  const { node, apiKey, caFingerprint, timeoutMs } = config.elasticsearch;
  if (!node) {
    throw new ExchangeError('CONFIG', 'the elasticsearch sink has no cluster to talk to', {
      hint: 'set elasticsearch.node or EXCHANGE_ELASTICSEARCH_URL',
      details: ['elasticsearch.node: required by the elasticsearch sink (env EXCHANGE_ELASTICSEARCH_URL)'],
    });
  }
  try {
    return new Client({
      node,
      ...(apiKey ? { auth: { apiKey } } : {}),
      ...(caFingerprint ? { caFingerprint } : {}),
      requestTimeout: timeoutMs,
      // The transport retries at once, on the next node: enough to step over one dead node of a cluster.
      // Waiting out an overloaded cluster is the retry queue's job, with its delay and counted attempts.
      maxRetries: 1,
      name: 'exchange',
    });
  } catch (error) {
    // e.g. a CA fingerprint with an http:// node: the client refuses the combination before any request.
    if (!(error instanceof errors.ConfigurationError)) throw error;
    throw new ExchangeError('CONFIG', `the Elasticsearch client refuses its configuration: ${error.message}`, {
      details: [`elasticsearch: ${error.message}`],
    });
  }
}
