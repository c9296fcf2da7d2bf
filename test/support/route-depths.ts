import type { TestBroker } from './broker.js';

export interface RouteDepths {
  work: number;
  retry: number;
  dlq: number;
}

/** Ready messages in each queue of a route: the work queue, its `.retry` and its `.dlq`. */
export async function routeDepths(broker: TestBroker, queue: string): Promise<RouteDepths> {
  return {
    work: await broker.depth(queue),
    retry: await broker.depth(`${queue}.retry`),
    dlq: await broker.depth(`${queue}.dlq`),
  };
}
