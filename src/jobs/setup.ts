import { declareTopology, inspectTopology, type TopologyCheck } from '../amqp/declare-topology.js';
import { allRoutes } from '../amqp/topology.js';
import { ExchangeError } from '../errors.js';
import { sinkPlugin } from '../sinks/registry.js';
import type { JobContext } from './job-context.js';

export interface SetupResult {
  /** What was declared (or, with check, verified). */
  actions: string[];
  /** With check: every thing looked at (exchanges, queues, a sink's own checks) and its state. */
  checks: TopologyCheck[];
  /** With check: every difference between the config and the broker, one `<what>: <problem>` line each. */
  problems: string[];
}

/** Declares the topology of every configured route and migrates the record store; idempotent (DESIGN §2). */
export async function setup(context: JobContext, options: { check: boolean; reindex?: boolean }): Promise<SetupResult> {
  const routes = allRoutes(context.config);
  if (options.reindex && options.check) throw new ExchangeError('USAGE', '--reindex and --check do not go together', { hint: 'check first, then reindex' });
  if (options.reindex && !routes.some((r) => r.sink === 'elasticsearch')) {
    throw new ExchangeError('USAGE', 'nothing to reindex: no route feeds the elasticsearch sink', { hint: 'add elasticsearch to routes.product' });
  }
  const connection = await context.connection();
  if (options.check) {
    const checks = await inspectTopology(connection, routes);
    const problems = checks.filter((c) => !c.state.startsWith('ok')).map((c) => `${c.name}: ${c.state.replace(/^differs: /, '')}`);
    for (const sink of new Set(routes.map((r) => r.sink))) {
      const plugin = await sinkPlugin(sink);
      // A sink's check returns its problems, one line each; none means it matches the config.
      if (!plugin.check) continue;
      const sinkProblems = await plugin.check({ config: context.config, recordStore: await context.recordStore(), reporter: context.reporter });
      problems.push(...sinkProblems);
      checks.push(...(sinkProblems.length === 0 ? [{ name: `sink ${sink}`, state: 'ok' }] : sinkProblems.map((line) => ({ name: `sink ${sink}`, state: `differs: ${line}` }))));
    }
    return { actions: checks.map((c) => `${c.name}: ${c.state}`), checks, problems };
  }
  const actions = await declareTopology(connection, routes);
  const store = await context.recordStore();
  actions.push(`record store ${store.engine} ${store.location}: schema up to date`);
  for (const sink of new Set(routes.map((r) => r.sink))) {
    const plugin = await sinkPlugin(sink);
    if (plugin.setup) actions.push(...(await plugin.setup({ config: context.config, recordStore: store, reporter: context.reporter })));
  }
  if (options.reindex) {
    const { reindexProducts } = await import('../sinks/elasticsearch/elasticsearch-sink.js');
    // The store knows the deleted products: the copy carries no deletes, the new index gets them from it.
    actions.push(...(await reindexProducts(context.config, store)));
  }
  return { actions, checks: [], problems: [] };
}

/** What `setup --check` exits with when anything differs (78), the differences as its lines. */
export function checkFailure(result: SetupResult): ExchangeError | undefined {
  const { problems } = result;
  if (problems.length === 0) return undefined;
  return new ExchangeError('TOPOLOGY_MISMATCH', `the broker or a sink differs from the configuration in ${problems.length} place${problems.length === 1 ? '' : 's'}`, {
    hint: 'run `exchange setup` to declare what is missing; a queue with other arguments must be deleted (after draining) or the config changed',
    details: problems,
  });
}
