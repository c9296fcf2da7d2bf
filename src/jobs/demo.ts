import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { businessTypes } from '../messages/entity-types.js';
import { drain } from './drain.js';
import type { JobContext } from './job-context.js';
import { publish } from './publish.js';
import { setup } from './setup.js';
import type { Summary } from './summary.js';

export const demoFixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/demo');

/** Declares, publishes the bundled fixtures, drains them into the record store: one summary per step. */
export async function demo(context: JobContext, options: { signal?: AbortSignal }): Promise<Summary[]> {
  await setup(context, { check: false });
  const summaries: Summary[] = [];
  // The bundled fixtures are 1C data: rates and EDI events come from synchronizations, not from demo files.
  for (const type of businessTypes) {
    summaries.push(await publish(context, { type, files: [path.join(demoFixturesDir, `${type}.jsonl`)], dryRun: false }));
    summaries.push(await drain(context, {
      type, sink: 'records', limit: 0, batchSize: context.config.drain.batchSize, prefetch: context.config.amqp.prefetch,
      idleMs: context.config.drain.idleMs, dryRun: false, exclusive: false, signal: options.signal, command: type,
    }));
  }
  return summaries;
}
