import { declareTopology } from '../amqp/declare-topology.js';
import { envelopeMessage } from '../amqp/envelope-message.js';
import { ConfirmPublisher, unroutableError } from '../amqp/publisher.js';
import { exchangeName, routesOf } from '../amqp/topology.js';
import type { Envelope } from '../messages/envelope.js';
import type { EntityType } from '../messages/entity-types.js';
import { readEnvelopeLines } from '../messages/json-lines.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import type { Counts, Summary } from './summary.js';

export interface PublishOptions {
  type: EntityType;
  files: string[];
  dryRun: boolean;
}

/** Publishes every record of the files as-is (no record store, no change detection): how CI loads fixtures. */
export async function publish(context: JobContext, options: PublishOptions): Promise<Summary> {
  return journaled(context, 'publish', async (counts) => {
    // Every file is read and checked before the first message leaves: a bad file publishes nothing.
    const envelopes: Envelope[] = [];
    for (const file of options.files) envelopes.push(...(await readEnvelopeLines(file, options.type)));
    counts.read += envelopes.length;
    if (options.dryRun) return;
    await publishEnvelopes(context, options.type, envelopes, counts);
  });
}

export async function publishEnvelopes(context: JobContext, type: EntityType, envelopes: Envelope[], counts: Counts): Promise<void> {
  const connection = await context.connection();
  await declareTopology(connection, routesOf(context.config, type));
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
