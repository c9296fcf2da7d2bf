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
  if (/^\d{4}-\d{2}-\d{2}/.test(version)) {
    const time = Date.parse(version);
    if (!Number.isNaN(time) && time >= 0) return time;
  }
  return undefined;
}
