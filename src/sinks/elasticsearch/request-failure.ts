import { errors } from '@elastic/elasticsearch';
import { maskUrl } from '../../config/secrets.js';
import { ExchangeError } from '../../errors.js';

/**
 * What a failed request (not an item of a bulk) means for the run (DESIGN §12, the README's error classes):
 * - `down`: nobody answers, the request times out, the credentials are refused, it is not Elasticsearch, or the
 *   cluster refuses the whole request for now (429: indexing pressure on the coordinating node; 5xx). The run
 *   stops (exit 69) with nothing acked and no attempt spent: every further message would fail the same way, and
 *   an outage longer than maxAttempts × retryDelayMs would otherwise park the whole queue in the dlq;
 * - `refused`: the cluster refused this request for good (another 4xx): the sink narrows it down to the item.
 */
export type RequestFailure =
  | { kind: 'down'; reason: string; status?: number }
  | { kind: 'refused'; reason: string; status: number; type?: string };

export function requestFailure(error: unknown): RequestFailure {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    const cause = errorCause(error.body);
    const reason = `HTTP ${status}${cause.type ? ` ${cause.type}` : ''}${cause.reason ? `: ${cause.reason}` : ''}`;
    if (status === 401 || status === 403 || status === 408 || status === 429 || status >= 500) return { kind: 'down', reason, status };
    return { kind: 'refused', reason, status, type: cause.type };
  }
  if (error instanceof errors.ProductNotSupportedError) return { kind: 'down', reason: 'the server does not say it is Elasticsearch (no x-elastic-product header)' };
  if (error instanceof errors.ConnectionError || error instanceof errors.NoLivingConnectionsError) return { kind: 'down', reason: (error as Error).message };
  if (error instanceof errors.TimeoutError) return { kind: 'down', reason: `timed out: ${error.message}` };
  // Something in between (a proxy's error page) or a broken node: nothing tells which items were written, and
  // a redelivery rewrites the same versions, so stopping is safe.
  if (error instanceof errors.DeserializationError) return { kind: 'down', reason: `unreadable answer: ${error.message}` };
  throw error;
}

/** The `type` and `reason` of an Elasticsearch error body, wherever this kind of answer puts them. */
export function errorCause(body: unknown): { type?: string; reason?: string } {
  if (typeof body !== 'object' || body === null) return typeof body === 'string' && body ? { reason: body.slice(0, 300) } : {};
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'string') return { reason: error };
  if (typeof error === 'object' && error !== null) {
    const { type, reason } = error as { type?: string; reason?: string };
    return { type, reason };
  }
  return {};
}

export function clusterDown(node: string, failure: RequestFailure, doing: string): ExchangeError {
  const auth = failure.status === 401 || failure.status === 403;
  return new ExchangeError('SINK_UNAVAILABLE', `Elasticsearch at ${maskUrl(node)} ${auth ? 'refused the credentials' : 'is unavailable'} while ${doing}: ${failure.reason}`, {
    hint: auth
      ? 'check elasticsearch.apiKey (or the user and password in elasticsearch.node) and the privileges of that key; nothing was acked'
      : 'nothing was acked that was not written; run again when the cluster is back',
  });
}
