import { envelopeMessage } from '../amqp/envelope-message.js';
import { ConfirmPublisher, unroutableError } from '../amqp/publisher.js';
import { exchangeName } from '../amqp/topology.js';
import { ensureTopology } from './ensure-topology.js';
import type { Envelope } from '../messages/envelope.js';
import type { EntityType } from '../messages/entity-types.js';
import { envelopeOf, readRecords } from './record-source.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import type { Counts, Summary } from './summary.js';

export interface PublishOptions {
  type: EntityType;
  files: string[];
  dryRun: boolean;
}

/**
 * Publishes every record of the files as-is (no record store, no change detection): how CI loads fixtures.
 * Each file is read twice, streamed: once to check all of it, once to publish, so a bad file publishes
 * nothing and a large one never sits in memory.
 */
export async function publish(context: JobContext, options: PublishOptions): Promise<Summary> {
  return journaled(context, 'publish', async (counts) => {
    for (const file of options.files) {
      for await (const record of await readRecords(file, options.type, { csvMapping: context.config.import.csvMapping })) if (record.type === options.type) counts.read++;
    }
    if (options.dryRun) return;
    for (const file of options.files) {
      let batch: Envelope[] = [];
      for await (const record of await readRecords(file, options.type, { csvMapping: context.config.import.csvMapping })) {
        if (record.type !== options.type) continue;
        batch.push(envelopeOf(record));
        if (batch.length >= 5000) { await publishEnvelopes(context, options.type, batch, counts); batch = []; }
      }
      await publishEnvelopes(context, options.type, batch, counts);
    }
  });
}

export async function publishEnvelopes(context: JobContext, type: EntityType, envelopes: Envelope[], counts: Counts): Promise<void> {
  if (envelopes.length === 0) return;
  await ensureTopology(context, [type]);
  const connection = await context.connection();
  const publisher = await ConfirmPublisher.open(connection);
  try {
    const exchange = exchangeName(context.config, type);
    const outcomes = await publisher.publishAll(envelopes.map((envelope) => envelopeMessage(envelope, exchange)));
    const failed = outcomes.find((outcome) => !outcome.ok);
    counts.published += outcomes.filter((outcome) => outcome.ok).length;
    if (failed && !failed.ok) throw unroutableError(failed);
  } finally {
    await publisher.close();
  }
}
