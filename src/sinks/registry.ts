import type { SinkName } from '../config/schema.js';
import type { SinkPlugin } from './sink.js';

/**
 * Every sink in one place. Each entry loads its plugin (a plain object) on first use, so a drain of the
 * records route never loads the Elasticsearch client or the CRM mappings.
 */
export const sinkPlugins: Record<SinkName, () => Promise<SinkPlugin>> = {
  records: async () => (await import('./records/records-sink.js')).recordsSinkPlugin,
  crm: async () => (await import('./crm/crm-sink.js')).crmSinkPlugin,
  elasticsearch: async () => (await import('./elasticsearch/elasticsearch-sink.js')).elasticsearchSinkPlugin,
};

export function sinkPlugin(name: SinkName): Promise<SinkPlugin> {
  return sinkPlugins[name]();
}
