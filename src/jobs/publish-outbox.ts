import { envelopeMessage } from '../amqp/envelope-message.js';
import { ConfirmPublisher, SendGroup, publishError, type PublishOutcome } from '../amqp/publisher.js';
import { exchangeName } from '../amqp/topology.js';
import type { Envelope } from '../messages/envelope.js';
import type { OutboxRow, RecordStore } from '../recordstore/record-store.js';
import { ensureTopology } from './ensure-topology.js';
import type { JobContext } from './job-context.js';
import type { Counts } from './summary.js';

const pageSize = 1000;

/**
 * Publishes the outbox in order with confirms and `mandatory`; a row is marked published only once the
 * broker confirmed it and did not return it. A returned or refused row stays for the next run, and the
 * run stops with the reason (exit 69), so a change event is never lost between the store and the broker.
 * Pages overlap: the next page is read and the last one marked while messages are in flight.
 */
export async function publishOutbox(context: JobContext, store: RecordStore, counts: Counts): Promise<void> {
  if ((await store.countPendingOutbox()) === 0) return;
  // The window spans pages: the broker never waits for us to read or mark a page.
  const publisher = await ConfirmPublisher.open(await context.connection(), { confirmTimeoutMs: context.config.amqp.confirmTimeoutMs });
  const checked = new Set<string>();
  let failure: (PublishOutcome & { ok: false }) | undefined;
  const onFailure = (outcome: PublishOutcome & { ok: false }) => { failure ??= outcome; };
  let marking: Promise<void> = Promise.resolve();
  try {
    let afterSeq = 0;
    while (!failure) {
      const rows = await store.pendingOutbox(pageSize, afterSeq);
      if (rows.length === 0) break;
      afterSeq = rows[rows.length - 1].seq;
      const types = [...new Set(rows.map((row) => row.type))].filter((type) => !checked.has(type));
      if (types.length > 0) {
        // A timed-out publish resets the connection under this check: report the timeout, not the check.
        await ensureTopology(context, types).catch((error) => { throw failure ? publishError(failure) : error; });
        types.forEach((type) => checked.add(type));
      }
      const page = new SendGroup(publisher, onFailure);
      for (const row of rows) {
        if (publisher.mustWaitForRoom) await publisher.ready();
        if (failure) break;
        page.send(messageOf(context, row), row.seq);
      }
      const sent = page.settled();
      marking = marking.then(async () => {
        await sent;
        await store.markPublished(page.confirmedTags);
        counts.published += page.confirmedTags.length;
      });
    }
    await marking;
    if (failure) throw publishError(failure);
  } finally {
    await marking.catch(() => undefined);
    await publisher.close();
  }
}

/** The head our own events start with (record-source.ts writes them): read without parsing the data. */
const eventHead = /^\{"type":"[a-z-]+","op":"(upsert|delete)","id":("(?:[^"\\]|\\.)*"),"version":("(?:[^"\\]|\\.)*")/;

function messageOf(context: JobContext, row: OutboxRow) {
  const head = eventHead.exec(row.message.toString('utf8', 0, 1024));
  const envelope = (head
    ? { type: row.type, op: head[1], id: JSON.parse(head[2]), version: JSON.parse(head[3]) }
    : JSON.parse(row.message.toString('utf8'))) as Envelope;
  return envelopeMessage(envelope, exchangeName(context.config, row.type), row.message);
}
