import type { JobContext } from './job-context.js';
import { publishOutbox } from './publish-outbox.js';
import { journaled } from './run-journal.js';
import type { Summary } from './summary.js';

/**
 * `exchange publish --outbox`: what a broker outage left in the outbox goes out on its own, without waiting
 * for the next import (DESIGN §2). Cron runs it every minute beside the drains; with nothing pending it
 * connects to nothing but the store.
 */
export async function publishPending(context: JobContext, options: { dryRun: boolean }): Promise<Summary> {
  return journaled(context, 'publish --outbox', async (counts) => {
    const store = await context.recordStore();
    if (options.dryRun) {
      counts.read = await store.countPendingOutbox();
      return;
    }
    await publishOutbox(context, store, counts);
  });
}
