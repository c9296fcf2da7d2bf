import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Bitrix24 portal over real HTTP for tests and the CRM benchmark. It follows Bitrix24's official REST
 * docs (bitrix24/b24restdocs, mirrored in Russian by bitrix-tools/b24-rest-docs; facts in
 * ../shared/realdata/facts/bitrix24.md), never our client: when the two disagree, the client is wrong.
 * Only Node built-ins are imported: the benchmark transpiles this file on its own.
 *
 * What each method answers (doc paths are in bitrix24/b24restdocs):
 *
 * | method | doc file | response served |
 * | --- | --- | --- |
 * | batch | settings/how-to-call-rest-api/batch.md | 200 `{result: {result, result_error, result_total, result_next, result_time}, time}`, each map keyed by the cmd key, `[]` when empty (PHP); `result_error[key]` = `{error, error_description}`; `halt` stops at the first error; more than 50 cmds → 400 ERROR_BATCH_LENGTH_EXCEEDED; a nested batch → ERROR_BATCH_METHOD_NOT_ALLOWED; `$result[key][path]` substituted from earlier results |
 * | crm.company.add | api-reference/crm/companies/crm-company-add.md | `result`: the new id (integer) |
 * | crm.company.update | api-reference/crm/companies/crm-company-update.md | `result: true`; unknown id → 400 `{error: "", error_description: "Company is not found"}` |
 * | crm.company.list | api-reference/crm/companies/crm-company-list.md, settings/how-to-call-rest-api/list-methods-pecularities.md, settings/performance/huge-data.md | `result`: array of rows (values as strings, multi-fields only when selected), `total`, `next` while more; pages of 50; `start=-1` → no `total`/`next` |
 * | crm.requisite.add | api-reference/crm/requisites/universal/crm-requisite-add.md | `result`: the new id; missing ENTITY_TYPE_ID / ENTITY_ID / PRESET_ID → 400 `{error: "", error_description: "<FIELD> is not defined or invalid."}`; no such company → "Entity not found." |
 * | crm.requisite.update | api-reference/crm/requisites/universal/crm-requisite-update.md | `result: true`; unknown id → 400 `{error: "", error_description: "The Requisite with ID '<id>' is not found"}` |
 * | crm.requisite.list | api-reference/crm/requisites/universal/crm-requisite-list.md | as crm.company.list |
 * | crm.deal.add | api-reference/crm/deals/crm-deal-add.md | `result`: the new id |
 * | crm.deal.update | api-reference/crm/deals/crm-deal-update.md | `result: true`; unknown id → 400 `{error: "", error_description: "Not found"}` |
 * | crm.deal.list | api-reference/crm/deals/crm-deal-list.md | as crm.company.list |
 * | catalog.product.add | api-reference/catalog/product/catalog-product-add.md | `result: {element: {id, iblockId, name, xmlId, active, ...}}` (numeric ids); no `fields` → 400 `{error: 100}`; no iblockId/name → 400 `{error: 0, error_description: "Required fields: ..."}` |
 * | catalog.product.update | api-reference/catalog/product/catalog-product-update.md | `result: {element: {...}}`; no `id` → 400 `{error: 100}`; unknown id → 400 `{error: 0, error_description: "Product with the specified identifier does not exist"}` |
 * | catalog.product.list | api-reference/catalog/product/catalog-product-list.md | `result: {products: [...]}`, `total`, `next` while more; `select` without id/iblockId → 400 `{error: 0, "Required select fields: id, iblockId"}`; no `filter.iblockId` → 400 `{error: 0, "Required filter fields: iblockId"}`; an array value is IN |
 * | catalog.price.add | api-reference/catalog/price/catalog-price-add.md | `result: {price: {id, productId, catalogGroupId, price, currency, ...}}`; missing fields → 400 `{error: 0, "Required fields: ..."}`; second price of a type → 400 `{error: 0, "Validate price error. Catalog product is allowed has only single price without ranges in price group"}` |
 * | catalog.price.update | api-reference/catalog/price/catalog-price-update.md | `result: {price: {...}}`; unknown id → 400 `{error: "", error_description: "Price does not exist"}` (the doc gives no code: "-") |
 * | catalog.price.list | api-reference/catalog/price/catalog-price-list.md | `result: {prices: [...]}`, `total`, `next` while more; `@field` is IN (array) |
 * | any method | _includes/system-errors.md, _includes/error-info.md, limits.md | 503 QUERY_LIMIT_EXCEEDED (leaky bucket: X = burst, Y = requestsPerSecond); 429 OPERATION_TIME_LIMIT, with `time.operating_reset_at` ("all REST request responses include time", limits.md) = when the block ends; 401 NO_AUTH_FOUND / INVALID_CREDENTIALS (wrong webhook code) / expired_token / insufficient_scope / ACCESS_DENIED / OVERLOAD_LIMIT; 403 PORTAL_DELETED; 500 INTERNAL_SERVER_ERROR; 404 ERROR_METHOD_NOT_FOUND |
 *
 * Every success carries `time` with `operating` and `operating_reset_at` (limits.md). catalog.* errors carry a
 * numeric `error` (200040300010 "Access Denied" and the like), 0 for many failures; crm.* errors an empty
 * string: both are falsy in JavaScript, and a client must test for the key, not its value.
 */
export type Row = Record<string, unknown> & { ID: number };
/** A method's error body: `error` is a string code (crm.*, system errors) or a number (catalog.*). */
export interface ApiError { error: string | number; error_description: string }

/** The whole-request failures of _includes/system-errors.md, with their HTTP statuses. */
export const systemErrors = {
  NO_AUTH_FOUND: { status: 401, description: 'Wrong authorization data' },
  INVALID_CREDENTIALS: { status: 401, description: 'Invalid request credentials' },
  expired_token: { status: 401, description: 'The access token provided has expired' },
  insufficient_scope: { status: 401, description: 'The request requires higher privileges than provided by the webhook token' },
  ACCESS_DENIED: { status: 401, description: 'REST is available only by subscription' },
  OVERLOAD_LIMIT: { status: 401, description: 'REST API is blocked due to overload' },
  PORTAL_DELETED: { status: 403, description: 'Portal was deleted' },
  INTERNAL_SERVER_ERROR: { status: 500, description: 'Internal server error' },
  ERROR_UNEXPECTED_ANSWER: { status: 500, description: 'Server returned an unexpected response' },
} as const;
export type SystemError = keyof typeof systemErrors;

export interface Bitrix24ServerOptions {
  userId?: number;
  code?: string;
  /** Y of the leaky bucket: requests forgiven per second. */
  requestsPerSecond?: number;
  /** X: the counter at which requests are refused. */
  burst?: number;
  /** false turns the bucket off (unit-speed tests that do not test it). */
  rateLimit?: boolean;
}

const pageSize = 50;
const batchLimit = 50;

class Table {
  rows = new Map<number, Row>();
  private nextId = 1;
  constructor(readonly name: string) {}
  insert(fields: Record<string, unknown>): Row {
    const row = { ...fields, ID: this.nextId++ } as Row;
    this.rows.set(row.ID, row);
    return row;
  }
  all(): Row[] {
    return [...this.rows.values()];
  }
}

export class Bitrix24Server {
  readonly companies = new Table('company');
  readonly requisites = new Table('requisite');
  readonly products = new Table('product');
  readonly prices = new Table('price');
  readonly deals = new Table('deal');
  readonly counters = { requests: 0, commands: 0, refused: 0, operationLimited: 0, authFailures: 0, dropped: 0, failed: 0, byMethod: {} as Record<string, number> };

  // Switches to inject failures.
  /** Per-command failure: return an error body to refuse that command alone. */
  failCommand?: (method: string, params: Record<string, unknown>) => ApiError | undefined;
  /** Every request is answered with this system error (a deleted or expired webhook, a portal in trouble). */
  authFailure?: SystemError;
  /** The next n requests get this system error (e.g. 500 INTERNAL_SERVER_ERROR for the whole batch). */
  failNext = 0;
  failWith: SystemError = 'INTERNAL_SERVER_ERROR';
  /** The next n requests are refused with 503 QUERY_LIMIT_EXCEEDED whatever the bucket says. */
  refuseNext = 0;
  /** The next n requests get 429 OPERATION_TIME_LIMIT, unblocked `operationResetInMs` later. */
  operationLimitNext = 0;
  operationResetInMs = 1000;
  /** Each answer waits this long (slow portal). */
  delayMs = 0;
  /** The next n requests have their connection destroyed without an answer. */
  dropNext = 0;

  readonly userId: number;
  readonly code: string;
  requestsPerSecond: number;
  burst: number;
  rateLimit: boolean;
  private level = 0;
  private levelAt = Date.now();
  private blockedUntil = 0;
  private server?: http.Server;
  private port = 0;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(options: Bitrix24ServerOptions = {}) {
    this.userId = options.userId ?? 1;
    this.code = options.code ?? 'testwebhookcode1';
    this.requestsPerSecond = options.requestsPerSecond ?? 2;
    this.burst = options.burst ?? 50;
    this.rateLimit = options.rateLimit ?? true;
  }

  /** Listens on `port` (0: any free one; a port of an earlier start brings the same portal back after an outage). */
  async start(port = this.port): Promise<this> {
    this.server = http.createServer((request, response) => { void this.handle(request, response); });
    this.server.on('connection', (socket) => { this.sockets.add(socket); socket.on('close', () => this.sockets.delete(socket)); });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get webhookUrl(): string {
    return `http://127.0.0.1:${this.port}/rest/${this.userId}/${this.code}/`;
  }

  webhookWithCode(code: string): string {
    return `http://127.0.0.1:${this.port}/rest/${this.userId}/${code}/`;
  }

  /** Stops listening: connections are then refused (ECONNREFUSED) until start() again on the same port. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
  }

  /** Fills the bucket (as if another application on the same address had just used it up). */
  fillBucket(): void {
    this.level = this.burst;
    this.levelAt = Date.now();
    // Full when the next request arrives, however long the client takes to start (a loaded machine).
    this.fullAtNextRequest = true;
  }

  private fullAtNextRequest = false;

  /** Empties the bucket (as if the portal had been idle long enough). */
  resetBucket(): void {
    this.level = 0;
    this.levelAt = Date.now();
  }

  resetCounters(): void {
    Object.assign(this.counters, { requests: 0, commands: 0, refused: 0, operationLimited: 0, authFailures: 0, dropped: 0, failed: 0, byMethod: {} });
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const started = Date.now();
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = /^\/rest\/(\d+)\/([^/]+)\/([a-z0-9_.]+?)(?:\.json)?$/i.exec(url.pathname);
    if (!match) return this.systemError(response, 'NO_AUTH_FOUND');
    if (this.dropNext > 0) {
      this.dropNext--;
      this.counters.dropped++;
      request.socket.destroy();
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (Number(match[1]) !== this.userId || match[2] !== this.code || this.authFailure) {
      this.counters.authFailures++;
      return this.systemError(response, this.authFailure ?? 'INVALID_CREDENTIALS');
    }
    if (this.failNext > 0) {
      this.failNext--;
      this.counters.failed++;
      return this.systemError(response, this.failWith);
    }
    if (this.fullAtNextRequest) {
      this.fullAtNextRequest = false;
      this.level = this.burst;
      this.levelAt = Date.now();
    }
    if (!this.admit()) {
      this.counters.refused++;
      return this.send(response, 503, { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' });
    }
    const method = match[3].toLowerCase();
    if (this.operationLimitNext > 0 || Date.now() < this.blockedUntil) {
      if (this.operationLimitNext > 0) {
        this.operationLimitNext--;
        this.blockedUntil = Math.max(this.blockedUntil, Date.now() + this.operationResetInMs);
      }
      this.counters.operationLimited++;
      return this.send(response, 429, { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit', time: this.time(started) });
    }
    this.counters.requests++;
    let params: Record<string, unknown>;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      const type = String(request.headers['content-type'] ?? '');
      params = text === '' ? {} : type.includes('json') ? JSON.parse(text) as Record<string, unknown> : parseQuery(text);
      Object.assign(params, parseQuery(url.search.slice(1)));
    } catch {
      return this.send(response, 400, { error: 'INVALID_REQUEST', error_description: 'Invalid request body' });
    }
    if (method === 'batch') return this.batch(response, params, started);
    const outcome = this.execute(method, params);
    if ('error' in outcome) return this.send(response, outcome.status ?? 400, { error: outcome.error, error_description: outcome.error_description });
    return this.send(response, 200, { result: outcome.result, ...(outcome.total !== undefined ? { total: outcome.total } : {}), ...(outcome.next !== undefined ? { next: outcome.next } : {}), time: this.time(started) });
  }

  private systemError(response: http.ServerResponse, code: SystemError): void {
    const { status, description } = systemErrors[code];
    this.send(response, status, { error: code, error_description: description });
  }

  private batch(response: http.ServerResponse, params: Record<string, unknown>, started: number): void {
    const cmd = (params.cmd ?? {}) as Record<string, string> | string[];
    const entries = Array.isArray(cmd) ? cmd.map((value, index) => [String(index), value] as const) : Object.entries(cmd);
    if (entries.length > batchLimit) return this.send(response, 400, { error: 'ERROR_BATCH_LENGTH_EXCEEDED', error_description: `Max batch length exceeded ${batchLimit}` });
    const halt = params.halt === true || params.halt === 1 || params.halt === '1' || params.halt === 'true' || params.halt === 'Y';
    const result: Record<string, unknown> = {};
    const errors: Record<string, ApiError> = {};
    const totals: Record<string, number> = {};
    const nexts: Record<string, number> = {};
    const times: Record<string, unknown> = {};
    for (const [key, text] of entries) {
      const commandStarted = Date.now();
      const [rawMethod, query = ''] = String(text).split(/\?(.*)/s, 2);
      const method = rawMethod.toLowerCase();
      if (method === 'batch') {
        errors[key] = { error: 'ERROR_BATCH_METHOD_NOT_ALLOWED', error_description: 'Batch call is not allowed in batch' };
        if (halt) break;
        continue;
      }
      const commandParams = substitute(parseQuery(query), result) as Record<string, unknown>;
      const outcome = this.execute(method, commandParams);
      if ('error' in outcome) {
        errors[key] = { error: outcome.error, error_description: outcome.error_description };
        if (halt) break;
        continue;
      }
      times[key] = this.time(commandStarted);
      result[key] = outcome.result;
      if (outcome.total !== undefined) totals[key] = outcome.total;
      if (outcome.next !== undefined) nexts[key] = outcome.next;
    }
    const orEmpty = (map: Record<string, unknown>) => (Object.keys(map).length === 0 ? [] : map);
    this.send(response, 200, {
      result: { result: orEmpty(result), result_error: orEmpty(errors), result_total: orEmpty(totals), result_next: orEmpty(nexts), result_time: orEmpty(times) },
      time: this.time(started),
    });
  }

  private execute(method: string, params: Record<string, unknown>): { result: unknown; total?: number; next?: number } | (ApiError & { status?: number }) {
    this.counters.commands++;
    this.counters.byMethod[method] = (this.counters.byMethod[method] ?? 0) + 1;
    const injected = this.failCommand?.(method, params);
    if (injected) return injected;
    try {
      return this.methods(method, params);
    } catch (error) {
      if (error instanceof ApiFailure) return { error: error.code, error_description: error.message, status: error.status };
      throw error;
    }
  }

  private methods(method: string, params: Record<string, unknown>): { result: unknown; total?: number; next?: number } {
    const fields = (params.fields ?? {}) as Record<string, unknown>;
    const id = Number(params.id ?? params.ID);
    switch (method) {
      case 'crm.company.add': return { result: this.crmAdd(this.companies, fields).ID };
      case 'crm.company.update': return { result: this.crmUpdate(this.companies, id, fields, 'Company is not found') };
      case 'crm.company.list': return this.crmList(this.companies, params);
      case 'crm.deal.add': return { result: this.crmAdd(this.deals, fields).ID };
      case 'crm.deal.update': return { result: this.crmUpdate(this.deals, id, fields, 'Not found') };
      case 'crm.deal.list': return this.crmList(this.deals, params);
      case 'crm.requisite.add': {
        for (const required of ['ENTITY_TYPE_ID', 'ENTITY_ID', 'PRESET_ID']) {
          if (!(Number(fields[required]) > 0)) throw new ApiFailure('', `${required} is not defined or invalid.`);
        }
        if (Number(fields.ENTITY_TYPE_ID) === 4 && !this.companies.rows.has(Number(fields.ENTITY_ID))) throw new ApiFailure('', 'Entity not found.');
        return { result: this.crmAdd(this.requisites, { ...fields, ENTITY_TYPE_ID: Number(fields.ENTITY_TYPE_ID), ENTITY_ID: Number(fields.ENTITY_ID) }).ID };
      }
      case 'crm.requisite.update': return { result: this.crmUpdate(this.requisites, id, fields, `The Requisite with ID '${params.id ?? params.ID}' is not found`) };
      case 'crm.requisite.list': return this.crmList(this.requisites, params);
      case 'catalog.product.add': {
        if (!params.fields || Object.keys(fields).length === 0) throw new ApiFailure(100, 'Could not find value for parameter {fields}');
        const missing = ['iblockId', 'name'].filter((field) => !fields[field]);
        if (missing.length > 0) throw new ApiFailure(0, `Required fields: ${missing.join(', ')}`);
        const row = this.products.insert(catalogRow(fields));
        return { result: { element: catalogOut(row) } };
      }
      case 'catalog.product.update': {
        if (params.id === undefined) throw new ApiFailure(100, 'Could not find value for parameter {id}');
        if (!params.fields || Object.keys(fields).length === 0) throw new ApiFailure(100, 'Could not find value for parameter {fields}');
        const row = this.products.rows.get(id);
        if (!row) throw new ApiFailure(0, 'Product with the specified identifier does not exist');
        Object.assign(row, catalogRow(fields), { ID: row.ID });
        return { result: { element: catalogOut(row) } };
      }
      case 'catalog.product.list': {
        const filter = (params.filter ?? {}) as Record<string, unknown>;
        const select = toList(params.select);
        const missing = ['id', 'iblockId'].filter((field) => !select.includes(field));
        if (missing.length > 0) throw new ApiFailure(0, `Required select fields: ${missing.join(', ')}`);
        if (filter.iblockId === undefined) throw new ApiFailure(0, 'Required filter fields: iblockId');
        const page = this.list(this.products, params, { idField: 'id', camel: true });
        return { ...page, result: { products: page.result } };
      }
      case 'catalog.price.add': {
        const missing = ['productId', 'catalogGroupId', 'price', 'currency'].filter((field) => fields[field] === undefined || fields[field] === '');
        if (missing.length > 0) throw new ApiFailure(0, `Required fields: ${missing.join(', ')}`);
        if (!this.products.rows.has(Number(fields.productId))) throw new ApiFailure(0, 'Validate price error. Catalog product is wrong');
        const duplicate = this.prices.all().find((row) => Number(row.productId) === Number(fields.productId) && Number(row.catalogGroupId) === Number(fields.catalogGroupId));
        if (duplicate) throw new ApiFailure(0, 'Validate price error. Catalog product is allowed has only single price without ranges in price group');
        const row = this.prices.insert({ ...catalogRow(fields), productId: Number(fields.productId), catalogGroupId: Number(fields.catalogGroupId), price: Number(fields.price) });
        return { result: { price: catalogOut(row) } };
      }
      case 'catalog.price.update': {
        const row = this.prices.rows.get(id);
        if (!row) throw new ApiFailure('', 'Price does not exist');
        const missing = ['price', 'currency'].filter((field) => fields[field] === undefined || fields[field] === '');
        if (missing.length > 0) throw new ApiFailure(0, `Required fields: ${missing.join(', ')}`);
        Object.assign(row, catalogRow(fields), { ID: row.ID }, { price: Number(fields.price) });
        return { result: { price: catalogOut(row) } };
      }
      case 'catalog.price.list': {
        const page = this.list(this.prices, params, { idField: 'id', camel: true });
        return { ...page, result: { prices: page.result } };
      }
      default:
        throw new ApiFailure('ERROR_METHOD_NOT_FOUND', 'Method not found!', 404);
    }
  }

  private crmAdd(table: Table, fields: Record<string, unknown>): Row {
    const row: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) row[key] = isMultiField(key) ? applyMulti([], value, this.multiIds) : value;
    if (table === this.companies && !row.TITLE) row.TITLE = 'Компания';
    if (table === this.deals && !row.TITLE) row.TITLE = 'Сделка';
    return table.insert({ ...row, DATE_CREATE: portalTime(), DATE_MODIFY: portalTime() });
  }

  private readonly multiIds = { next: 1 };

  private crmUpdate(table: Table, id: number, fields: Record<string, unknown>, notFound: string): boolean {
    if (!(id > 0)) throw new ApiFailure('', 'ID is not defined or invalid.');
    const row = table.rows.get(id);
    if (!row) throw new ApiFailure('', notFound);
    for (const [key, value] of Object.entries(fields)) {
      if (key === 'ID') continue;
      row[key] = isMultiField(key) ? applyMulti((row[key] as MultiValue[]) ?? [], value, this.multiIds) : value;
    }
    row.DATE_MODIFY = portalTime();
    return true;
  }

  private crmList(table: Table, params: Record<string, unknown>) {
    return this.list(table, params, { idField: 'ID', camel: false });
  }

  private list(table: Table, params: Record<string, unknown>, options: { idField: string; camel: boolean }): { result: unknown[]; total?: number; next?: number } {
    const filter = (params.filter ?? {}) as Record<string, unknown>;
    const order = (params.order ?? { [options.idField]: 'ASC' }) as Record<string, string>;
    const select = toList(params.select);
    const start = Number(params.start ?? 0);
    const get = (row: Row, field: string) => (field === options.idField ? row.ID : row[field]);
    let rows = table.all().filter((row) => matches(row, filter, get));
    const [orderField, direction] = Object.entries(order)[0] ?? [options.idField, 'ASC'];
    rows.sort((a, b) => compare(get(a, orderField), get(b, orderField)) * (String(direction).toUpperCase() === 'DESC' ? -1 : 1));
    const total = rows.length;
    const offset = start === -1 ? 0 : Math.max(0, start);
    rows = rows.slice(offset, offset + pageSize);
    const shaped = rows.map((row) => {
      const out = options.camel ? catalogOut(row) : stringify(row);
      const wanted = select.length === 0 || select.includes('*') ? Object.keys(out).filter((key) => !isMultiField(key) || select.includes(key)) : select;
      const picked: Record<string, unknown> = {};
      for (const key of wanted) if (key in out) picked[key] = out[key];
      if (!options.camel && select.length > 0) for (const key of select) if (isMultiField(key) && key in out) picked[key] = out[key];
      return picked;
    });
    if (start === -1) return { result: shaped };
    const next = offset + pageSize < total ? offset + pageSize : undefined;
    return { result: shaped, total, next };
  }

  private admit(): boolean {
    if (this.refuseNext > 0) {
      this.refuseNext--;
      return false;
    }
    if (!this.rateLimit) return true;
    const now = Date.now();
    this.level = Math.max(0, this.level - ((now - this.levelAt) / 1000) * this.requestsPerSecond);
    this.levelAt = now;
    if (this.level + 1 > this.burst) return false;
    this.level += 1;
    return true;
  }

  private time(started: number) {
    const finished = Date.now();
    return {
      start: started / 1000,
      finish: finished / 1000,
      duration: (finished - started) / 1000,
      processing: (finished - started) / 1000,
      date_start: new Date(started).toISOString(),
      date_finish: new Date(finished).toISOString(),
      // When a portion of the method's limit is released (limits.md): the block's end while blocked, else ten minutes on.
      operating_reset_at: this.blockedUntil > finished ? this.blockedUntil / 1000 : Math.floor(started / 1000) + 600,
      operating: 0,
    };
  }

  private send(response: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  }
}

class ApiFailure extends Error {
  constructor(readonly code: string | number, message: string, readonly status = 400) {
    super(message);
  }
}

interface MultiValue { ID: string; VALUE_TYPE: string; VALUE: string; TYPE_ID: string }

function isMultiField(key: string): boolean {
  return key === 'PHONE' || key === 'EMAIL' || key === 'WEB' || key === 'IM';
}

/** The real semantics of multi-fields on update: an item with ID replaces (or DELETE=Y removes) that value, one without ID is added. */
function applyMulti(current: MultiValue[], value: unknown, ids: { next: number }): MultiValue[] {
  const items = Array.isArray(value) ? value : value && typeof value === 'object' ? Object.values(value) : [];
  const next = current.map((item) => ({ ...item }));
  for (const raw of items as Array<Record<string, unknown>>) {
    if (raw.ID !== undefined && raw.ID !== '') {
      const index = next.findIndex((item) => item.ID === String(raw.ID));
      if (index < 0) continue;
      if (raw.DELETE === 'Y' || raw.VALUE === '') next.splice(index, 1);
      else next[index] = { ...next[index], VALUE: String(raw.VALUE ?? next[index].VALUE), VALUE_TYPE: String(raw.VALUE_TYPE ?? next[index].VALUE_TYPE) };
      continue;
    }
    if (!raw.VALUE) continue;
    next.push({ ID: String(ids.next++), VALUE: String(raw.VALUE), VALUE_TYPE: String(raw.VALUE_TYPE ?? 'WORK'), TYPE_ID: '' });
  }
  return next;
}

/** CRM lists answer strings (PHP): ids and numbers come back as text. */
function stringify(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = typeof value === 'number' ? String(value) : value;
  return out;
}

/** catalog.* objects: camelCase, `id` a number, `iblockId` a number, as in the docs' examples. */
function catalogOut(row: Row): Record<string, unknown> {
  const { ID, ...rest } = row;
  return { id: ID, ...rest, ...(rest.iblockId !== undefined ? { iblockId: Number(rest.iblockId) } : {}) };
}

function catalogRow(fields: Record<string, unknown>): Record<string, unknown> {
  const { id: _ignored, ...rest } = fields;
  return rest;
}

function toList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (value && typeof value === 'object') return Object.values(value).map(String);
  return [];
}

function compare(a: unknown, b: unknown): number {
  const dates = compareDates(a, b);
  if (dates !== undefined) return dates;
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return String(a ?? '').localeCompare(String(b ?? ''));
}

/** Filter keys carry their operator as a prefix: `>ID`, `>=ID`, `!FIELD`, `@FIELD` (in), `=FIELD`; an array value means "in". */
function matches(row: Row, filter: Record<string, unknown>, get: (row: Row, field: string) => unknown): boolean {
  for (const [rawKey, expected] of Object.entries(filter)) {
    const op = /^(>=|<=|!=|!@|>|<|=|!|@)?(.*)$/.exec(rawKey)!;
    const operator = op[1] ?? '=';
    const actual = get(row, op[2]);
    const values = Array.isArray(expected) ? expected : expected && typeof expected === 'object' ? Object.values(expected) : [expected];
    const equalsAny = values.some((value) => compare(actual, value) === 0 && actual !== undefined);
    switch (operator) {
      case '=': case '@': if (!equalsAny) return false; break;
      case '!': case '!=': case '!@': if (equalsAny) return false; break;
      case '>': if (!(compare(actual, values[0]) > 0)) return false; break;
      case '>=': if (!(compare(actual, values[0]) >= 0)) return false; break;
      case '<': if (!(compare(actual, values[0]) < 0)) return false; break;
      case '<=': if (!(compare(actual, values[0]) <= 0)) return false; break;
    }
  }
  return true;
}

/** PHP's parse_str: `a[b][0]=x&a[]=y` into nested objects; `[]` appends. */
export function parseQuery(query: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  if (!query) return root;
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawKey = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    const keyMatch = /^([^[]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    if (!keyMatch) continue;
    const path = [keyMatch[1], ...[...keyMatch[2].matchAll(/\[([^\]]*)\]/g)].map((m) => m[1])];
    let node: Record<string, unknown> = root;
    for (let index = 0; index < path.length; index++) {
      let key = path[index];
      const last = index === path.length - 1;
      if (key === '') key = String(Object.keys(node).length);
      if (last) node[key] = value;
      else {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
    }
  }
  return root;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** `$result[key][path…]` in a value becomes that part of an earlier command's result. */
function substitute(value: unknown, results: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$result\[([^\]]+)\]((?:\[[^\]]*\])*)/g, (whole, key: string, rest: string) => {
      let node: unknown = results[key];
      for (const m of rest.matchAll(/\[([^\]]*)\]/g)) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[m[1]] : undefined;
      return node === undefined || node === null || typeof node === 'object' ? '' : String(node);
    });
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = substitute(item, results);
    return out;
  }
  return value;
}

/**
 * CRM dates as the docs show them (crm-company-get.md: "DATE_MODIFY": "2024-08-01T16:08:08+01:00"): to the
 * second, with the portal's offset (Moscow here). `portalClock` lets a test fix the portal's time.
 */
export const portalClock = { now: (): number => Date.now(), offsetMinutes: 180 };

function portalTime(): string {
  const shifted = new Date(Math.floor(portalClock.now() / 1000) * 1000 + portalClock.offsetMinutes * 60_000);
  const sign = portalClock.offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(portalClock.offsetMinutes);
  return `${shifted.toISOString().slice(0, 19)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** A datetime field filtered by a date (`>DATE_MODIFY`) compares instants, whatever offset either side is written in. */
function compareDates(a: unknown, b: unknown): number | undefined {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
  if (typeof a !== 'string' || typeof b !== 'string' || !iso.test(a) || !iso.test(b)) return undefined;
  return Date.parse(a) - Date.parse(b);
}
