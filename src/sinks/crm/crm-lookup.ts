import { batchLimit, type Bitrix24Client, type Bitrix24Command, type CommandOutcome } from './bitrix24-client.js';

export interface LookupRequest {
  method: string;
  /** The field the values are matched on (`ORIGIN_ID`, `XML_ID`, `xmlId`, `ID`, `productId`). */
  field: string;
  /**
   * The filter key for "field is one of these": a plain key with an array for crm.* and catalog.product.list,
   * `@productId` for catalog.price.list, whose doc names `@` as its IN.
   */
  filterKey?: string;
  values: string[];
  filter?: Record<string, unknown>;
  select: string[];
  /** catalog.* lists wrap their rows: { products: [...] } */
  rowsKey?: string;
  idField?: string;
}

export interface LookupResult {
  /** Rows per looked-up value, oldest (lowest id) first. */
  found: Map<string, Array<Record<string, unknown>>>;
  /** Values whose lookup failed, with the outcome to give their items. */
  failed: Map<string, CommandOutcome>;
}

/**
 * First-time lookups, many values per list command (an array filter value is "in") and many commands
 * per batch. A page that comes back full may hide rows (duplicates made by hand in the CRM), so the values
 * it did not answer are asked again one by one.
 */
export async function lookupMany(client: Bitrix24Client, requests: LookupRequest[]): Promise<LookupResult[]> {
  const results = requests.map((): LookupResult => ({ found: new Map(), failed: new Map() }));
  let pending = requests.flatMap((request, index) => chunk(unique(request.values), batchLimit).map((values) => ({ index, values })));
  let round = 0;
  while (pending.length > 0 && round < 2) {
    const commands: Bitrix24Command[] = pending.map(({ index, values }) => command(requests[index], values));
    const outcomes = await client.batchAll(commands);
    const again: typeof pending = [];
    pending.forEach(({ index, values }, position) => {
      const outcome = outcomes[position];
      const request = requests[index];
      const result = results[index];
      if (!outcome.ok) {
        for (const value of values) result.failed.set(value, outcome);
        return;
      }
      for (const row of rowsOf(outcome.result, request.rowsKey)) {
        const key = String(row[request.field] ?? '');
        const list = result.found.get(key) ?? [];
        list.push(row);
        result.found.set(key, list);
      }
      if (outcome.next !== undefined && values.length > 1) {
        for (const value of values) if (!result.found.has(value)) again.push({ index, values: [value] });
      }
    });
    pending = again;
    round++;
  }
  for (const result of results) {
    for (const list of result.found.values()) list.sort((a, b) => Number(a.ID ?? a.id) - Number(b.ID ?? b.id));
  }
  return results;
}

function command(request: LookupRequest, values: string[]): Bitrix24Command {
  const idField = request.idField ?? 'ID';
  return {
    method: request.method,
    params: {
      filter: { ...(request.filter ?? {}), [request.filterKey ?? request.field]: values },
      select: unique([idField, request.field, ...request.select]),
      order: { [idField]: 'ASC' },
    },
  };
}

function rowsOf(result: unknown, key?: string): Array<Record<string, unknown>> {
  if (key && result && typeof result === 'object' && !Array.isArray(result)) return ((result as Record<string, unknown>)[key] ?? []) as Array<Record<string, unknown>>;
  return Array.isArray(result) ? (result as Array<Record<string, unknown>>) : [];
}

function chunk<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < list.length; start += size) out.push(list.slice(start, start + size));
  return out;
}

function unique<T>(list: T[]): T[] {
  return [...new Set(list)];
}
