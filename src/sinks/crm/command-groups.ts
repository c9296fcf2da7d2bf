import type { SinkItemResult } from '../sink.js';
import { Bitrix24TemporaryError, batchLimit, type Bitrix24Client, type Bitrix24Command, type CommandOutcome } from './bitrix24-client.js';

/**
 * The commands one item needs, kept in one batch so later ones can use `$result[...]` of earlier ones
 * (a company's id in its requisite), and what to do with their outcomes.
 */
export interface CommandGroup {
  commands: Bitrix24Command[];
  settle(outcomes: CommandOutcome[]): Promise<void> | void;
}

/**
 * Packs groups into as few batches as fit 50 commands, without splitting a group, and sends them one
 * after the other (the portal asks for no parallel series from one address). When a whole request fails
 * for now, the groups not yet sent are given the same temporary outcome instead of a timeout each.
 */
export async function runGroups(client: Bitrix24Client, groups: CommandGroup[]): Promise<void> {
  const batches: CommandGroup[][] = [];
  let current: CommandGroup[] = [];
  let size = 0;
  for (const group of groups) {
    if (group.commands.length === 0) {
      await group.settle([]);
      continue;
    }
    if (size + group.commands.length > batchLimit && current.length > 0) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(group);
    size += group.commands.length;
  }
  if (current.length > 0) batches.push(current);

  let failure: Bitrix24TemporaryError | undefined;
  for (const batch of batches) {
    if (failure) {
      for (const group of batch) await group.settle(group.commands.map(() => temporary(failure!)));
      continue;
    }
    let outcomes: CommandOutcome[];
    try {
      outcomes = await client.batch(batch.flatMap((group) => group.commands));
    } catch (error) {
      if (!(error instanceof Bitrix24TemporaryError)) throw error;
      failure = error;
      for (const group of batch) await group.settle(group.commands.map(() => temporary(error)));
      continue;
    }
    let offset = 0;
    for (const group of batch) {
      await group.settle(outcomes.slice(offset, offset + group.commands.length));
      offset += group.commands.length;
    }
  }
}

function temporary(error: Bitrix24TemporaryError): CommandOutcome {
  return { ok: false, error: error.code, description: error.message, temporary: true, retryAfterMs: error.retryAfterMs };
}

/** An item's result from the first failed command among its outcomes. */
export function failureOf(outcomes: CommandOutcome[], methods: string[]): SinkItemResult | undefined {
  const index = outcomes.findIndex((outcome) => !outcome.ok);
  if (index < 0) return undefined;
  return resultOfError(outcomes[index], methods[index]);
}

export function resultOfError(outcome: CommandOutcome, method: string): SinkItemResult {
  if (outcome.ok) throw new Error('not an error');
  const code = outcome.error.startsWith('CRM_') ? outcome.error : `CRM_${outcome.error || 'ERROR'}`;
  const reason = `${method}: ${outcome.error || 'error'}${outcome.description ? ` (${outcome.description})` : ''}`;
  return outcome.temporary ? { status: 'retry', reason, code, retryAfterMs: outcome.retryAfterMs } : { status: 'fail', reason, code };
}
