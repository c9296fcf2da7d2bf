import type { Envelope } from '../../messages/envelope.js';

/**
 * The search document of a product upsert: the normalized entity as it came (the mapping decides what is
 * indexed), plus where and when it came from, so a search hit can be traced back to its message.
 */
export function productDocument(envelope: Envelope): Record<string, unknown> {
  return {
    ...(envelope.data ?? {}),
    id: envelope.id,
    version: envelope.version,
    source: envelope.source,
    ...(envelope.occurredAt ? { updatedAt: envelope.occurredAt } : {}),
  };
}
