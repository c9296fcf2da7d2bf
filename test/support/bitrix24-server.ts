import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Bitrix24 portal over real HTTP for tests and the CRM benchmark. It keeps state and follows the
 * documented behaviour (../shared/realdata/facts/bitrix24.md): webhook paths, `batch` with `cmd` strings
 * in PHP query form and `halt`, `$result[...]` references, `[]` for empty maps, paging by 50 with
 * `next`/`total`, `>ID` filters and `start=-1`, the leaky bucket answering 503 QUERY_LIMIT_EXCEEDED,
 * 429 OPERATION_TIME_LIMIT with `operating_reset_at`, and 401 for a wrong webhook code.
 * Only Node built-ins are imported: the benchmark transpiles this file on its own.
 */
export type Row = Record<string, unknown> & { ID: number };
export interface ApiError { error: string; error_description: string }

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
  readonly counters = { requests: 0, commands: 0, refused: 0, operationLimited: 0, authFailures: 0, dropped: 0, byMethod: {} as Record<string, number> };

  // Switches to inject failures.
  /** Per-command failure: return an error to refuse that command alone. */
  failCommand?: (method: string, params: Record<string, unknown>) => ApiError | undefined;
  /** Every request is answered with this auth error (as if the webhook were deleted or expired). */
  authFailure?: 'NO_AUTH_FOUND' | 'expired_token' | 'ACCESS_DENIED';
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

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => { void this.handle(request, response); });
    this.server.on('connection', (socket) => { this.sockets.add(socket); socket.on('close', () => this.sockets.delete(socket)); });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get webhookUrl(): string {
    return `http://127.0.0.1:${this.port}/rest/${this.userId}/${this.code}/`;
  }

  webhookWithCode(code: string): string {
    return `http://127.0.0.1:${this.port}/rest/${this.userId}/${code}/`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Empties the bucket (as if the portal had been idle long enough). */
  resetBucket(): void {
    this.level = 0;
    this.levelAt = Date.now();
  }

  resetCounters(): void {
    Object.assign(this.counters, { requests: 0, commands: 0, refused: 0, operationLimited: 0, authFailures: 0, dropped: 0, byMethod: {} });
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const started = Date.now();
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = /^\/rest\/(\d+)\/([^/]+)\/([a-z0-9_.]+?)(?:\.json)?$/i.exec(url.pathname);
    if (!match) return this.send(response, 404, { error: 'ERROR_METHOD_NOT_FOUND', error_description: 'Method not found!' });
    if (this.dropNext > 0) {
      this.dropNext--;
      this.counters.dropped++;
      request.socket.destroy();
      return;
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (Number(match[1]) !== this.userId || match[2] !== this.code || this.authFailure) {
      this.counters.authFailures++;
      const code = this.authFailure ?? 'NO_AUTH_FOUND';
      const status = code === 'ACCESS_DENIED' ? 403 : 401;
      return this.send(response, status, { error: code, error_description: code === 'expired_token' ? 'The access token provided has expired.' : 'Wrong authorization data' });
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
      return this.send(response, 429, {
        error: 'OPERATION_TIME_LIMIT',
        error_description: `Method is blocked due to operation time limit.`,
        operating_reset_at: this.blockedUntil / 1000,
      });
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
      times[key] = this.time(commandStarted);
      if ('error' in outcome) {
        errors[key] = { error: outcome.error, error_description: outcome.error_description };
        if (halt) break;
        continue;
      }
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
      case 'crm.company.update': return { result: this.crmUpdate(this.companies, id, fields) };
      case 'crm.company.get': return { result: this.crmGet(this.companies, id) };
      case 'crm.company.list': return this.crmList(this.companies, params);
      case 'crm.deal.add': return { result: this.crmAdd(this.deals, fields).ID };
      case 'crm.deal.update': return { result: this.crmUpdate(this.deals, id, fields) };
      case 'crm.deal.get': return { result: this.crmGet(this.deals, id) };
      case 'crm.deal.list': return this.crmList(this.deals, params);
      case 'crm.requisite.add': {
        for (const required of ['ENTITY_TYPE_ID', 'ENTITY_ID', 'PRESET_ID', 'NAME']) {
          if (fields[required] === undefined || fields[required] === '') throw new ApiFailure('ERROR_CORE', `The field ${required} is required.`);
        }
        if (Number(fields.ENTITY_TYPE_ID) === 4 && !this.companies.rows.has(Number(fields.ENTITY_ID))) throw new ApiFailure('ERROR_CORE', 'Entity not found.');
        return { result: this.crmAdd(this.requisites, { ...fields, ENTITY_TYPE_ID: Number(fields.ENTITY_TYPE_ID), ENTITY_ID: Number(fields.ENTITY_ID) }).ID };
      }
      case 'crm.requisite.update': return { result: this.crmUpdate(this.requisites, id, fields) };
      case 'crm.requisite.list': return this.crmList(this.requisites, params);
      case 'catalog.product.add': {
        if (!fields.iblockId) throw new ApiFailure('ERROR_CORE', 'Required fields: iblockId');
        if (!fields.name) throw new ApiFailure('ERROR_CORE', 'Required fields: name');
        const row = this.products.insert(camelRow(fields));
        return { result: { product: toCamel(row) } };
      }
      case 'catalog.product.update': {
        const row = this.products.rows.get(id);
        if (!row) throw new ApiFailure('ERROR_PRODUCT_NOT_EXISTS', 'Product does not exist', 400);
        Object.assign(row, camelRow(fields), { ID: row.ID });
        return { result: { product: toCamel(row) } };
      }
      case 'catalog.product.list': {
        const filter = (params.filter ?? {}) as Record<string, unknown>;
        if (filter.iblockId === undefined) throw new ApiFailure('ERROR_CORE', 'Required filter: iblockId', 400);
        const page = this.list(this.products, params, { idField: 'id', camel: true });
        return { ...page, result: { products: page.result } };
      }
      case 'catalog.price.add': {
        if (!this.products.rows.has(Number(fields.productId))) throw new ApiFailure('ERROR_CORE', 'Product does not exist', 400);
        if (fields.price === undefined || !fields.currency || !fields.catalogGroupId) throw new ApiFailure('ERROR_CORE', 'Required fields: catalogGroupId, price, currency', 400);
        const duplicate = this.prices.all().find((row) => Number(row.productId) === Number(fields.productId) && Number(row.catalogGroupId) === Number(fields.catalogGroupId));
        if (duplicate) throw new ApiFailure('ERROR_CORE', 'Price of this type already exists for the product', 400);
        const row = this.prices.insert({ ...camelRow(fields), productId: Number(fields.productId), catalogGroupId: Number(fields.catalogGroupId), price: Number(fields.price) });
        return { result: { price: toCamel(row) } };
      }
      case 'catalog.price.update': {
        const row = this.prices.rows.get(id);
        if (!row) throw new ApiFailure('ERROR_CORE', 'Price does not exist', 400);
        Object.assign(row, camelRow(fields), { ID: row.ID }, fields.price !== undefined ? { price: Number(fields.price) } : {});
        return { result: { price: toCamel(row) } };
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
    return table.insert({ ...row, DATE_CREATE: new Date().toISOString(), DATE_MODIFY: new Date().toISOString() });
  }

  private readonly multiIds = { next: 1 };

  private crmUpdate(table: Table, id: number, fields: Record<string, unknown>): boolean {
    const row = table.rows.get(id);
    if (!row) throw new ApiFailure('', 'Not found', 400);
    for (const [key, value] of Object.entries(fields)) {
      if (key === 'ID') continue;
      row[key] = isMultiField(key) ? applyMulti((row[key] as MultiValue[]) ?? [], value, this.multiIds) : value;
    }
    row.DATE_MODIFY = new Date().toISOString();
    return true;
  }

  private crmGet(table: Table, id: number): Record<string, unknown> {
    const row = table.rows.get(id);
    if (!row) throw new ApiFailure('', 'Not found', 400);
    return stringify(row);
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
      const out = options.camel ? toCamel(row) : stringify(row);
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
      operating_reset_at: Math.floor(finished / 1000) + 600,
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
  constructor(readonly code: string, message: string, readonly status = 400) {
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

function toCamel(row: Row): Record<string, unknown> {
  const { ID, ...rest } = row;
  return { id: ID, ...rest };
}

function camelRow(fields: Record<string, unknown>): Record<string, unknown> {
  const { id: _ignored, ...rest } = fields;
  return rest;
}

function toList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (value && typeof value === 'object') return Object.values(value).map(String);
  return [];
}

function compare(a: unknown, b: unknown): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return String(a ?? '').localeCompare(String(b ?? ''));
}

/** CRM filter keys carry their operator as a prefix: `>ID`, `>=ID`, `!FIELD`, `@FIELD` (in), `=FIELD`; an array value means "in". */
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
