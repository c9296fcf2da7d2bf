import type { SinkName } from '../config/schema.js';
import { ExchangeError } from '../errors.js';
import { recordsSinkPlugin } from './records/records-sink.js';
import type { SinkPlugin } from './sink.js';

/** Every sink, as a plain object, in one place. */
export const sinkPlugins: Partial<Record<SinkName, SinkPlugin>> = {
  records: recordsSinkPlugin,
};

export function sinkPlugin(name: SinkName): SinkPlugin {
  const plugin = sinkPlugins[name];
  if (!plugin) {
    throw new ExchangeError('CONFIG', `the "${name}" sink is not available in this build`, {
      details: [`routes: sink "${name}" is not available yet; route to "records"`],
    });
  }
  return plugin;
}
