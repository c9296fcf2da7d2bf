import { envelopeMessage } from '../amqp/envelope-message.js';
import { ConfirmPublisher, SendGroup, publishError, type PublishOutcome } from '../amqp/publisher.js';
import { exchangeName } from '../amqp/topology.js';
import { ensureTopology } from './ensure-topology.js';
import type { EntityType } from '../messages/entity-types.js';
import { envelopeOf, readRecords } from './record-source.js';
import type { JobContext } from './job-context.js';
import { journaled } from './run-journal.js';
import type { Summary } from './summary.js';

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
    const records = (file: string) => readRecords(file, options.type, { csvMapping: context.config.import.csvMapping, timeZone: context.config.import.timeZone });
    for (const file of options.files) {
      for await (const record of await records(file)) if (record.type === options.type) counts.read++;
    }
    if (options.dryRun || counts.read === 0) return;
    await ensureTopology(context, [options.type]);
    const publisher = await ConfirmPublisher.open(await context.connection(), { confirmTimeoutMs: context.config.amqp.confirmTimeoutMs });
    const exchange = exchangeName(context.config, options.type);
    let failure: (PublishOutcome & { ok: false }) | undefined;
    const sends = new SendGroup(publisher, (outcome) => { failure ??= outcome; });
    try {
      files: for (const file of options.files) {
        for await (const record of await records(file)) {
          if (record.type !== options.type) continue;
          if (publisher.mustWaitForRoom) await publisher.ready();
          if (failure) break files;
          sends.send(envelopeMessage(envelopeOf(record), exchange, record.originText));
        }
      }
    } finally {
      await sends.settled();
      counts.published += sends.confirmedCount;
      await publisher.close();
    }
    if (failure) throw publishError(failure);
  });
}
