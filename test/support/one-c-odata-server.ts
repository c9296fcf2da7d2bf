import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A 1C:Enterprise infobase publishing the standard OData interface (OData v3), over real HTTP, for tests. It
 * answers as ../shared/realdata/facts/1c-odata.md and the real responses in ../shared/realdata/1c-odata/
 * (copied to fixtures/1c-odata/) show 1C answering, never as our client would like: where the two disagree,
 * the client is wrong. "DOC" is 1C's Developer Guide §17.4 as the facts file cites it; "claim" marks what the
 * facts file itself marks as a third party's claim.
 *
 * | request | fact / doc source | response shape |
 * | --- | --- | --- |
 * | `GET <base>/odata/standard.odata/<Entity>?$format=json` | facts §1 (URL shapes), §2 `$format`, §3; fixtures/1c-odata/*_collection.json | 200 `{"odata.metadata": "<base>/odata/standard.odata/$metadata#<Entity>", "value": [...]}`, Cyrillic not percent-encoded inside; entities as stored (Ref_Key, DataVersion, DeletionMark, `*_Key`, `*@navigationLinkUrl`, tabular sections as arrays, Int64 as strings); header `DataServiceVersion: 3.0` (DOC L1377) |
 * | the same without `$format=json` or `Accept: application/json` | facts §2 `$format` ("default is atom-xml") | 200 an Atom `<feed>` (application/atom+xml) |
 * | `$top`, `$skip` | facts §2 ("`$skip` applied before `$top` regardless of order in URL"; no server paging, no `odata.nextLink`) | the slice; without `$top` everything |
 * | `$orderby=P [asc\|desc],…` | facts §2 `$orderby`; claim (CDC, measured): `Ref_Key` becomes ordering by presentation (Description, Code for catalogs; Date, Number for documents) | sorted; ties keep the stored order |
 * | `$filter=P ge\|gt\|le\|lt\|eq datetime'yyyy-mm-ddThh:mm:ss'` joined by `and` | facts §2 literals (`datetime'…'`), ops | the matching entities |
 * | `$filter=Ref_Key gt guid'…'` | facts §4 performance (CDC: keyset paging on references → HTTP 500 «Неверные параметры в операции сравнения») | 500 odata.error code -1 |
 * | a `$filter` with `+` for spaces, or one this stand-in cannot read | facts §1 claim (EB): 1C does not decode `+` as a space → HTTP 400 | 400 odata.error code 14 (query-options parse error, DOC codes) |
 * | `$select=a,b` | facts §2 `$select` | only those properties; an unknown one → 400 odata.error code 10 (property not found, DOC codes) |
 * | no or wrong Basic credentials | facts §4 Auth (HTTP Basic, infobase user); no captured 401 body (facts "Not found") | 401 with `WWW-Authenticate: Basic realm="1C:Enterprise"`, empty body |
 * | an entity set not in the published composition | facts §4 (claim, EB: "404 / сущность не найдена"; code 8 entity type not found, DOC) | 404 odata.error code 8 (message text: ours, no capture exists) |
 * | `failNext` `odata-500` | facts §4 ("Business errors … HTTP 500 with code -1"; JSON error form) | 500 `{"odata.error":{"code":"-1","message":{"lang":"ru","value":…}}}` |
 * | `failNext` `html-500` | facts §4 (CDC: HTML "1C:Enterprise 8 application error … The device is full '/tmp/v8_*.tmp'") | 500 text/html page |
 * | `failNext` `exception-json` | facts §4 (CDC: platform JSON `{"#exception":…,"exception":{"reason":403,"descr":…}}` with BOM when sessions are blocked) | 403 BOM + that JSON |
 * | `failNext` `html-200` | facts §4 claim (HCB): on auth problems 1C can answer an HTML page with HTTP 200 | 200 text/html login page |
 * | `failNext` `hang` | a web server that accepts and never answers | no answer (the client's timeout) |
 * | `stop()` | the publication's host down | ECONNREFUSED |
 */
export type OneCEntity = Record<string, unknown> & { Ref_Key: string };
export type OneCFailure = 'odata-500' | 'html-500' | 'exception-json' | 'html-200' | 'hang';

export interface OneCRequest {
  entity: string;
  /** The raw query string as sent (to check encodings). */
  rawQuery: string;
  options: Record<string, string>;
  status: number;
}

export class OneCODataServer {
  /** Published entity sets and their entities, in stored order. */
  readonly entities = new Map<string, OneCEntity[]>();
  readonly requests: OneCRequest[] = [];
  /** Failures for the next requests, in order; `null` answers that request normally. */
  failNext: Array<OneCFailure | null> = [];
  private server?: http.Server;
  private port = 0;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(readonly options: { user?: string; password?: string; basePath?: string } = {}) {}

  get user(): string { return this.options.user ?? 'Администратор'; }
  get password(): string { return this.options.password ?? 'секрет-1c'; }
  get basePath(): string { return this.options.basePath ?? '/trade'; }

  /** The `…/odata/standard.odata` URL a sync's settings.url names. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${this.basePath}/odata/standard.odata`;
  }

  publish(entity: string, rows: OneCEntity[]): this {
    this.entities.set(entity, rows.map((row) => ({ ...row })));
    return this;
  }

  /** Changes an entity as a user in 1C would (DataVersion changes with it). */
  change(entity: string, refKey: string, properties: Record<string, unknown>): void {
    const row = this.entities.get(entity)?.find((item) => item.Ref_Key === refKey);
    if (!row) throw new Error(`no ${entity} ${refKey} in the stand-in`);
    Object.assign(row, properties, { DataVersion: Buffer.from(String(Date.now())).toString('base64').slice(0, 12) });
  }

  async start(port = this.port): Promise<this> {
    this.server = http.createServer((request, response) => { this.handle(request, response); });
    this.server.on('connection', (socket) => { this.sockets.add(socket); socket.on('close', () => this.sockets.delete(socket)); });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const rawUrl = request.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQuery = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
    const prefix = `${this.basePath}/odata/standard.odata/`;
    const path = safeDecode(rawPath);
    const entity = path.startsWith(prefix) ? path.slice(prefix.length) : '';
    const options = parseOptions(rawQuery);
    const log: OneCRequest = { entity, rawQuery, options, status: 0 };
    this.requests.push(log);
    const send = (status: number, body: string, type: string, headers: Record<string, string> = {}) => {
      log.status = status;
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
      response.end(body);
    };
    const error = (status: number, code: string, message: string) =>
      send(status, JSON.stringify({ 'odata.error': { code, message: { lang: 'ru', value: message } } }), 'application/json;charset=utf-8', { DataServiceVersion: '3.0' });

    const failure = this.failNext.shift();
    if (failure === 'hang') return;
    if (!this.authorized(request.headers.authorization)) {
      return send(401, '', 'text/plain', { 'WWW-Authenticate': 'Basic realm="1C:Enterprise"' });
    }
    if (failure === 'odata-500') return error(500, '-1', 'Ошибка при выполнении запроса: Недостаточно памяти для получения результата запроса');
    if (failure === 'html-500') {
      return send(500, "<html><head><title>1C:Enterprise 8 application error</title></head><body><h1>1C:Enterprise 8 application error</h1><p>The device is full '/tmp/v8_a1b2c3.tmp'</p></body></html>", 'text/html; charset=utf-8');
    }
    if (failure === 'exception-json') {
      return send(403, `\uFEFF${JSON.stringify({ '#exception': 'ИсключениеВызванноеИзВстроенногоЯзыка', exception: { reason: 403, descr: 'Начало сеанса с информационной базой запрещено' } })}`, 'application/json;charset=utf-8');
    }
    if (failure === 'html-200') {
      return send(200, '<!DOCTYPE html><html><head><title>1С:Предприятие</title></head><body>Введите имя пользователя и пароль</body></html>', 'text/html; charset=utf-8');
    }

    const rows = this.entities.get(entity);
    if (!rows) return error(404, '8', `Не найден тип сущности: ${entity}`);
    const wantsJson = options.$format === 'json' || options.$format?.startsWith('application/json') || /application\/json/.test(String(request.headers.accept ?? ''));
    if (!wantsJson) {
      return send(200, `<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="${this.url}/"><id>${this.url}/${entity}</id></feed>`, 'application/atom+xml;type=feed;charset=utf-8');
    }

    let selected = rows.slice();
    if (options.$filter !== undefined) {
      if (/\bRef_Key\s+(gt|ge|lt|le)\s+guid'/i.test(options.$filter)) return error(500, '-1', 'Неверные параметры в операции сравнения');
      const conditions = parseFilter(options.$filter);
      if (!conditions) return error(400, '14', `Ошибка разбора параметров запроса: $filter=${options.$filter}`);
      selected = selected.filter((row) => conditions.every((c) => compareValues(row[c.property], c.value, c.op)));
    }
    if (options.$orderby !== undefined) {
      const keys = options.$orderby.split(',').map((part) => {
        const [property, direction = 'asc'] = part.trim().split(/\s+/);
        return { property, sign: direction.toLowerCase() === 'desc' ? -1 : 1 };
      });
      const expanded = keys.flatMap((key) => (key.property === 'Ref_Key' ? presentationOrder(entity).map((property) => ({ property, sign: key.sign })) : [key]));
      selected = selected.map((row, index) => ({ row, index })).sort((a, b) => {
        for (const key of expanded) {
          const order = compareForSort(a.row[key.property], b.row[key.property]) * key.sign;
          if (order !== 0) return order;
        }
        return a.index - b.index;
      }).map(({ row }) => row);
    }
    const skip = Number(options.$skip ?? 0);
    const top = options.$top === undefined ? Infinity : Number(options.$top);
    if (!Number.isInteger(skip) || skip < 0 || !(top >= 0)) return error(400, '14', 'Ошибка разбора параметров запроса: $top/$skip');
    selected = selected.slice(skip, skip + top);
    if (options.$select !== undefined && options.$select !== '*') {
      const properties = options.$select.split(',').map((name) => name.trim());
      const unknown = properties.find((name) => !rows.some((row) => name in row));
      if (unknown) return error(400, '10', `Не найдено свойство: ${unknown}`);
      selected = selected.map((row) => Object.fromEntries(properties.filter((name) => name in row).map((name) => [name, row[name]])) as OneCEntity);
    }
    const body = { 'odata.metadata': `${this.url}/$metadata#${entity}`, value: selected };
    send(200, JSON.stringify(body), 'application/json;odata=minimalmetadata;streaming=true;charset=utf-8', { DataServiceVersion: '3.0' });
  }

  private authorized(header: string | undefined): boolean {
    const match = /^Basic\s+(.+)$/i.exec(header ?? '');
    if (!match) return false;
    return Buffer.from(match[1], 'base64').toString('utf8') === `${this.user}:${this.password}`;
  }
}

/** Query options as 1C reads them: percent-decoded as UTF-8, a `+` left as it is (facts §1, claim). */
function parseOptions(rawQuery: string): Record<string, string> {
  const options: Record<string, string> = {};
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    options[safeDecode(eq < 0 ? part : part.slice(0, eq))] = eq < 0 ? '' : safeDecode(part.slice(eq + 1));
  }
  return options;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

type Op = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
interface Condition { property: string; op: Op; value: string }

/** `Date ge datetime'2016-12-29T13:03:29' and Date lt datetime'…'`: the date comparisons an incremental reader needs. */
function parseFilter(filter: string): Condition[] | undefined {
  const parts = filter.split(/ and /i);
  const conditions: Condition[] = [];
  for (const part of parts) {
    const match = /^\s*([^\s]+) (eq|ne|gt|ge|lt|le) datetime'(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})'\s*$/i.exec(part);
    if (!match) return undefined;
    conditions.push({ property: match[1], op: match[2].toLowerCase() as Op, value: match[3] });
  }
  return conditions;
}

function compareValues(actual: unknown, expected: string, op: Op): boolean {
  const order = compareForSort(actual, expected);
  switch (op) {
    case 'eq': return order === 0;
    case 'ne': return order !== 0;
    case 'gt': return order > 0;
    case 'ge': return order >= 0;
    case 'lt': return order < 0;
    case 'le': return order <= 0;
  }
}

function compareForSort(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a ?? '');
  const y = String(b ?? '');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** What 1C orders by when asked for Ref_Key (claim, CDC measured): the object's presentation. */
function presentationOrder(entity: string): string[] {
  if (entity.startsWith('Document_')) return ['Date', 'Number'];
  if (entity.startsWith('Catalog_')) return ['Description', 'Code'];
  return ['Ref_Key'];
}
