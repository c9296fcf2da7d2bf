import { checkTopology } from '../amqp/declare-topology.js';
import { routesOf } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import type { JobContext } from './job-context.js';

/**
 * Producers verify, consumers declare: `setup` (or a drain) declares queues before anything is
 * published, and a publisher refuses to start against a broker that lacks them, so no message is
 * published into an exchange with nowhere to go. A binding removed later is caught by `mandatory`.
 */
export async function ensureTopology(context: JobContext, types: Iterable<EntityType>): Promise<void> {
  const routes = [...new Set(types)].flatMap((type) => routesOf(context.config, type));
  const problems = await checkTopology(await context.connection(), routes);
  if (problems.length > 0) {
    throw new ExchangeError('TOPOLOGY_MISMATCH', 'the broker lacks queues that messages would be published to; nothing was published', {
      hint: 'run `exchange setup`, then run this again',
      details: problems,
    });
  }
}
