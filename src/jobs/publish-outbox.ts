import { envelopeMessage } from '../amqp/envelope-message.js';
import { ConfirmPublisher, unroutableError } from '../amqp/publisher.js';
import { exchangeName } from '../amqp/topology.js';
import type { Envelope } from '../messages/envelope.js';
import type { RecordStore } from '../recordstore/record-store.js';
import { ensureTopology } from './ensure-topology.js';
import type { JobContext } from './job-context.js';
import type { Counts } from './summary.js';

const pageSize = 1000;

/**
 * Publishes the outbox in order with confirms and `mandatory`; a row is marked published only once the
 * broker confirmed it and did not return it. A returned or refused row stays for the next run, and the
 * run stops with the reason (exit 69), so a change event is never lost between the store and the broker.
 */
export async function publishOutbox(context: JobContext, store: RecordStore, counts: Counts): Promise<void> {
  if ((await store.countPendingOutbox()) === 0) return;
  const connection = await context.connection();
  const publisher = await ConfirmPublisher.open(connection);
  const checked = new Set<string>();
  try {
    for (;;) {
      const rows = await store.pendingOutbox(pageSize);
      if (rows.length === 0) return;
      const types = rows.map((row) => row.type).filter((type) => !checked.has(type));
      if (types.length > 0) {
        await ensureTopology(context, types);
        types.forEach((type) => checked.add(type));
      }
      const outcomes = await publisher.publishAll(rows.map((row) => {
        const envelope = JSON.parse(row.message) as Envelope;
        return envelopeMessage(envelope, exchangeName(context.config, row.type), row.message);
      }));
      const confirmed = rows.filter((_, index) => outcomes[index].ok).map((row) => row.seq);
      await store.markPublished(confirmed);
      counts.published += confirmed.length;
      const failed = outcomes.find((outcome) => !outcome.ok);
      if (failed && !failed.ok) throw unroutableError(failed);
    }
  } finally {
    await publisher.close();
  }
}
