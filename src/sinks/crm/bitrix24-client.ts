import { maskSecrets, maskUrl } from '../../config/secrets.js';
import { ExchangeError } from '../../errors.js';
import type { Reporter } from '../../jobs/reporter.js';
import { LeakyBucket } from './leaky-bucket.js';

/** A value in a batch command that Bitrix24 fills from an earlier command's result: `$result[key][path]`. */
export class ResultRef {
  constructor(readonly key: string, readonly path: Array<string | number> = []) {}
  toString(): string {
    return `$result[${this.key}]${this.path.map((part) => `[${part}]`).join('')}`;
  }
}

export interface Bitrix24Command {
  method: string;
  params?: Record<string, unknown>;
  /** The name later commands of the same batch use in a ResultRef; generated when absent. */
  key?: string;
}

export type CommandOutcome =
  | { ok: true; result: unknown; total?: number; next?: number }
  /** `error` is the portal's code as text: crm.* send strings (often ""), catalog.* numbers (often 0). */
  | { ok: false; error: string; description: string; temporary: boolean; retryAfterMs?: number };

export interface Bitrix24ClientOptions {
  webhookUrl: string;
  requestsPerSecond: number;
  burst: number;
  timeoutMs: number;
  reporter?: Reporter;
  /** Attempts of one request refused with QUERY_LIMIT_EXCEEDED before its items go back to the queue. */
  maxRateLimitAttempts?: number;
  /** Longest wait for `operating_reset_at`; beyond it the items are retried later through the queue. */
  maxOperationWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The items of a request failed for now and go back through .retry: a method blocked by
 * OPERATION_TIME_LIMIT for longer than we wait. A portal that cannot be reached or refuses everything is
 * not this: that stops the run (ExchangeError SINK_UNAVAILABLE, exit 69) and burns no attempt.
 */
export class Bitrix24TemporaryError extends Error {
  constructor(message: string, readonly code: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'Bitrix24TemporaryError';
  }
}

/** A single call (not a batch) answered with an error for that call. */
export class Bitrix24CallError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'Bitrix24CallError';
  }
}

export const batchLimit = 50;
export const pageSize = 50;

/**
 * Errors that say the webhook or the portal refuses us whatever we send (_includes/system-errors.md): no item
 * is at fault, the operator must act, so the run stops with exit 69 and nothing is acked.
 */
const refusingErrors = new Set([
  'NO_AUTH_FOUND', 'INVALID_CREDENTIALS', 'expired_token', 'invalid_token', 'insufficient_scope', 'ACCESS_DENIED',
  'OVERLOAD_LIMIT', 'PORTAL_DELETED', 'user_access_error', 'WRONG_AUTH_TYPE', 'authorization_error', 'ERROR_METHOD_NOT_FOUND',
]);
/** Per-command errors that a later attempt can get past (the item goes to .retry). */
const temporaryErrors = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'INTERNAL_SERVER_ERROR', 'ERROR_UNEXPECTED_ANSWER']);

export type ErrorClass = 'unavailable' | 'temporary' | 'permanent';

/**
 * How an error body is judged. catalog.* permission errors are numeric 2000403000xx ("Access Denied",
 * "Iblock Not Found"), crm.* ones an empty code with "Access denied": both refuse every item alike.
 */
export function classifyError(code: string, description: string): ErrorClass {
  if (refusingErrors.has(code) || /^2000403000\d\d$/.test(code) || /^access denied/i.test(description.trim())) return 'unavailable';
  if (temporaryErrors.has(code) || /deadlock|lock wait timeout|try (it )?again later/i.test(description)) return 'temporary';
  return 'permanent';
}

interface ErrorBody {
  error?: string | number;
  error_description?: string;
}

interface Envelope extends ErrorBody {
  result?: unknown;
  total?: number;
  next?: number;
  time?: { operating_reset_at?: number; operating?: number };
}

interface BatchResult {
  result?: Record<string, unknown> | unknown[];
  result_error?: Record<string, ErrorBody> | unknown[];
  result_total?: Record<string, number> | unknown[];
  result_next?: Record<string, number> | unknown[];
}

/** An answer is an error when it has the key: its value may be "" (crm.*) or 0 (catalog.*), both falsy. */
function isError(body: object | undefined): boolean {
  return !!body && typeof body === 'object' && 'error' in body;
}

function codeOf(body: ErrorBody): string {
  return body.error === undefined || body.error === null ? '' : String(body.error);
}

/**
 * Bitrix24 REST over an incoming webhook. Every request goes through the leaky bucket; the rate-limit
 * answers are waited out here, so callers only see per-command outcomes, a temporary error for the whole
 * request (a method blocked longer than we wait), or an ExchangeError that stops the run: the portal cannot
 * be reached (refused, DNS, TLS, timeout, 5xx) or refuses the webhook (401/403, access denied).
 */
export class Bitrix24Client {
  readonly stats = { requests: 0, commands: 0, refused: 0, operationLimited: 0, waitedMs: 0 };
  private readonly base: string;
  private readonly bucket: LeakyBucket;
  private readonly sleep: (ms: number) => Promise<void>;
  private lastResetAt?: number;

  constructor(private readonly options: Bitrix24ClientOptions) {
    this.base = options.webhookUrl.endsWith('/') ? options.webhookUrl : `${options.webhookUrl}/`;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.bucket = new LeakyBucket(options.requestsPerSecond, options.burst, Date.now, this.sleep);
  }

  get location(): string {
    return maskUrl(this.base);
  }

  /** One method call; a per-call error throws Bitrix24CallError. */
  async call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<{ result: T; total?: number; next?: number }> {
    const body = await this.request(method, params, 1);
    if (isError(body)) {
      const code = codeOf(body);
      const description = String(body.error_description ?? '');
      if (classifyError(code, description) === 'unavailable') throw this.refused(code, description);
      throw new Bitrix24CallError(maskSecrets(`${method}: ${code || 'error'}${description ? ` (${description})` : ''}`), code);
    }
    return { result: body.result as T, total: body.total, next: body.next };
  }

  /**
   * Up to 50 commands in one request with halt=0: each command gets its own outcome, in order, and one
   * command's error never affects the others.
   */
  async batch(commands: Bitrix24Command[]): Promise<CommandOutcome[]> {
    if (commands.length === 0) return [];
    if (commands.length > batchLimit) throw new Error(`a Bitrix24 batch holds at most ${batchLimit} commands, got ${commands.length}`);
    const keys = commands.map((command, index) => command.key ?? `c${index}`);
    const cmd: Record<string, string> = {};
    commands.forEach((command, index) => { cmd[keys[index]] = `${command.method}?${encodeParams(command.params ?? {})}`; });
    const body = await this.request('batch', { halt: 0, cmd }, commands.length);
    if (isError(body)) {
      const code = codeOf(body);
      if (classifyError(code, String(body.error_description ?? '')) === 'unavailable') throw this.refused(code, body.error_description);
      // ERROR_BATCH_LENGTH_EXCEEDED and the like: our request is wrong, not an item.
      throw new Error(maskSecrets(`batch refused: ${code} ${body.error_description ?? ''}`.trim()));
    }
    const payload = (body.result ?? {}) as BatchResult;
    const results = asRecord(payload.result);
    const errors = asRecord(payload.result_error) as Record<string, ErrorBody>;
    const totals = asRecord(payload.result_total) as Record<string, number>;
    const nexts = asRecord(payload.result_next) as Record<string, number>;
    return keys.map((key): CommandOutcome => {
      if (key in errors) {
        const error = (errors[key] ?? {}) as ErrorBody;
        const code = codeOf(error);
        const description = String(error.error_description ?? '');
        const kind = classifyError(code, description);
        if (kind === 'unavailable') throw this.refused(code, description);
        return { ok: false, error: code, description: maskSecrets(description), temporary: kind === 'temporary' };
      }
      if (!(key in results)) {
        // halt=0 runs every command, so a missing result is the portal giving up on it midway.
        return { ok: false, error: 'NO_RESULT', description: 'the batch returned no result for this command', temporary: true };
      }
      return { ok: true, result: results[key], total: totals[key], next: nexts[key] };
    });
  }

  /** Commands of any number, 50 per request, each independent of the others. */
  async batchAll(commands: Bitrix24Command[]): Promise<CommandOutcome[]> {
    const outcomes: CommandOutcome[] = [];
    for (let start = 0; start < commands.length; start += batchLimit) {
      outcomes.push(...(await this.batch(commands.slice(start, start + batchLimit).map(({ method, params }) => ({ method, params })))));
    }
    return outcomes;
  }

  /** Ordinary paging: `start` = the previous answer's `next`, until there is none. */
  async *pages<T = unknown>(method: string, params: Record<string, unknown> = {}, rowsOf: (result: unknown) => T[] = defaultRows): AsyncGenerator<T[]> {
    let start: number | undefined = 0;
    while (start !== undefined) {
      const page: { result: unknown; next?: number } = await this.call(method, { ...params, start });
      yield rowsOf(page.result);
      start = page.next;
    }
  }

  /**
   * Large reads (facts §4): ascending by ID, `>ID` the last one seen, `start=-1` so the portal does not
   * count the total; stop at a short page.
   */
  async *scan<T = unknown>(method: string, params: { filter?: Record<string, unknown>; select?: string[] } = {}, options: { idField?: string; rowsOf?: (result: unknown) => T[] } = {}): AsyncGenerator<T[]> {
    const idField = options.idField ?? 'ID';
    const rowsOf = options.rowsOf ?? defaultRows;
    let lastId = 0;
    for (;;) {
      const { result } = await this.call(method, {
        ...params,
        order: { [idField]: 'ASC' },
        filter: { ...(params.filter ?? {}), [`>${idField}`]: lastId },
        start: -1,
      });
      const rows = rowsOf(result);
      if (rows.length > 0) yield rows as T[];
      if (rows.length < pageSize) return;
      lastId = Number((rows[rows.length - 1] as Record<string, unknown>)[idField]);
    }
  }

  private async request(method: string, params: Record<string, unknown>, commandCount: number): Promise<Envelope> {
    const maxRefusals = this.options.maxRateLimitAttempts ?? 8;
    const maxWaitMs = this.options.maxOperationWaitMs ?? 120_000;
    let refusals = 0;
    for (;;) {
      this.stats.waitedMs += await this.bucket.take();
      this.stats.requests++;
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${this.base}${method}.json`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(params),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        // Refused, unresolvable, a bad certificate, a reset or no answer in time: the CRM is not there.
        throw this.unreachable(method, error);
      }
      const body = parseBody(text);
      if (body.time?.operating_reset_at) this.lastResetAt = body.time.operating_reset_at;
      const code = isError(body) ? codeOf(body) : '';
      const description = String(body.error_description ?? '');
      if (response.status === 401 || response.status === 403 || refusingErrors.has(code)) throw this.refused(code || `HTTP ${response.status}`, description);
      if (code === 'QUERY_LIMIT_EXCEEDED' || (response.status === 503 && !code)) {
        this.stats.refused++;
        this.bucket.markFull();
        if (++refusals >= maxRefusals) {
          throw this.unavailable(`Bitrix24 at ${this.location} refused ${method} ${refusals} times in a row with QUERY_LIMIT_EXCEEDED`, 'CRM_QUERY_LIMIT_EXCEEDED');
        }
        // Increasing delays, as the portal asks (facts §2); the bucket, now full, paces what follows.
        const delay = Math.min(16_000, 500 * 2 ** (refusals - 1));
        this.options.reporter?.debug(`Bitrix24 refused ${method} (QUERY_LIMIT_EXCEEDED), waiting ${delay} ms`);
        this.stats.waitedMs += delay;
        await this.sleep(delay);
        continue;
      }
      if (code === 'OPERATION_TIME_LIMIT' || response.status === 429) {
        this.stats.operationLimited++;
        const resetAt = body.time?.operating_reset_at ?? this.lastResetAt;
        const waitMs = resetAt ? Math.max(0, resetAt * 1000 - Date.now()) + 250 : 60_000;
        if (waitMs > maxWaitMs) throw new Bitrix24TemporaryError(`Bitrix24 blocked ${method} (OPERATION_TIME_LIMIT) for ${Math.round(waitMs / 1000)} s`, 'CRM_OPERATION_TIME_LIMIT', waitMs);
        this.options.reporter?.warn(`Bitrix24 blocked ${method} (OPERATION_TIME_LIMIT): waiting ${Math.round(waitMs / 100) / 10} s for operating_reset_at`);
        this.stats.waitedMs += waitMs;
        await this.sleep(waitMs);
        continue;
      }
      if (response.status >= 500 || code === 'INVALID_RESPONSE') {
        throw this.unavailable(`Bitrix24 at ${this.location} answered ${method} with HTTP ${response.status}${code ? ` ${code}` : ''}${description ? ` (${description})` : ''}`, `CRM_${code || `HTTP_${response.status}`}`);
      }
      if (response.status >= 400 && !isError(body)) throw new Error(`Bitrix24 answered ${method} with HTTP ${response.status}: ${maskSecrets(text.slice(0, 200))}`);
      this.stats.commands += commandCount;
      return body;
    }
  }

  private unreachable(method: string, error: unknown): ExchangeError {
    const failure = error as Error & { cause?: { code?: string; message?: string } };
    const code = failure.name === 'TimeoutError' ? 'TIMEOUT' : failure.cause?.code ?? 'NETWORK';
    const detail = code === 'TIMEOUT' ? `no answer in ${this.options.timeoutMs} ms` : `${failure.cause?.code ?? ''} ${failure.cause?.message ?? failure.message}`.trim();
    return this.unavailable(`Bitrix24 at ${this.location} did not answer ${method}: ${detail}`, `CRM_${code}`);
  }

  private unavailable(message: string, code: string): ExchangeError {
    return new ExchangeError('SINK_UNAVAILABLE', maskSecrets(message), {
      hint: `the CRM cannot be reached (${code}); nothing was acked and no attempt was counted: the messages stay in their queue for the next run`,
    });
  }

  private refused(code: string, description?: string): ExchangeError {
    return new ExchangeError('SINK_UNAVAILABLE', maskSecrets(`Bitrix24 at ${this.location} refused the webhook: ${code || 'error'}${description ? ` (${description})` : ''}`), {
      hint: 'check crm.webhookUrl (EXCHANGE_BITRIX24_WEBHOOK) and its rights: the webhook may have been deleted, expired or lack the crm and catalog scopes or access to the catalog; nothing was acked, run again once it is fixed',
    });
  }
}

function parseBody(text: string): Envelope {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Envelope) : {};
  } catch {
    return { error: 'INVALID_RESPONSE', error_description: 'the answer is not JSON' };
  }
}

/** PHP returns an empty array `[]` where an empty object is meant (facts §3). */
function asRecord(value: unknown): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  if (Array.isArray(value)) return Object.fromEntries(value.map((item, index) => [String(index), item]));
  return {};
}

function defaultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  if (result && typeof result === 'object') {
    // catalog.* lists wrap their rows: { products: [...] }, { prices: [...] }
    const values = Object.values(result as Record<string, unknown>);
    if (values.length === 1 && Array.isArray(values[0])) return values[0] as T[];
  }
  return [];
}

/** `cmd` strings take PHP's query form: nested keys in brackets, lists as [0], [1]… */
export function encodeParams(params: Record<string, unknown>): string {
  const pairs: string[] = [];
  const walk = (prefix: string, value: unknown): void => {
    if (value === undefined) return;
    if (value instanceof ResultRef) {
      // Left unencoded so the portal can substitute it whichever way it parses the command.
      pairs.push(`${prefix}=${value.toString()}`);
      return;
    }
    if (value === null) {
      pairs.push(`${prefix}=`);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(`${prefix}[${index}]`, item));
      return;
    }
    if (typeof value === 'object') {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) walk(`${prefix}[${encodeURIComponent(key)}]`, item);
      return;
    }
    pairs.push(`${prefix}=${encodeURIComponent(typeof value === 'boolean' ? (value ? 'Y' : 'N') : String(value))}`);
  };
  for (const [key, value] of Object.entries(params)) walk(encodeURIComponent(key), value);
  return pairs.join('&');
}
