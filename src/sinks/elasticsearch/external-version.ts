import { versionKey } from '../../recordstore/versioning.js';

/**
 * Maps an envelope version (DESIGN §6: an ISO-8601 time or a zero-padded counter) to the long that
 * Elasticsearch's external versioning compares: epoch milliseconds for a time, the number for a counter.
 * Anything else does not order (or does not fit a JSON number exactly), so it has no external version and
 * the item cannot be written without risking a newer document being overwritten.
 */
export function externalVersion(version: string): number | undefined {
  if (/^\d+$/.test(version)) {
    const value = Number(version);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  // The store's sort key reads the time (a zone-less one as UTC), so Elasticsearch orders versions as the store does.
  const key = versionKey(version);
  if (key.startsWith('t:')) {
    const time = Date.parse(key.slice(2));
    if (time >= 0) return time;
  }
  return undefined;
}
