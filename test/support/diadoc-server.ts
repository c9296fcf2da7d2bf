import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A Kontur.Diadoc API host over real HTTP for tests. It answers from Diadoc's own documentation and the
 * official SDKs, never from our client: when the two disagree, the client is wrong.
 *
 * Sources: the docs at developer.kontur.ru/doc/diadoc-api (sources in diadoc/diadocapi-docs), Kontur's OpenAPI
 * document (developer.kontur.ru/api/documentations/diadoc.api, a copy is openapi/diadoc.openapi.json in
 * clientapi/diadoc-nestjs), the C# SDK diadoc/diadocsdk-csharp (src/DiadocHttpApi.Events.cs) and its protos.
 *
 * | method | doc or SDK source | response served |
 * | --- | --- | --- |
 * | GET /V8/GetNewEvents | doc http/GetNewEvents_V8 ("afterIndexKey … must be URL-encoded; not together with afterEventId"); OpenAPI paths./V8/GetNewEvents; diadocsdk-csharp DiadocHttpApi.Events.cs GetNewEventsV8 (query boxId, afterEventId, afterIndexKey, departmentId, messageType, typeNamedId, documentDirection, timestampFromTicks, timestampToTicks, counteragentBoxId, orderBy, limit) | 200 `BoxEventList` JSON with `Accept: application/json` (else protobuf bytes): `{Events: [BoxEvent], TotalCount, TotalCountType: "Equal"}`; the events after `afterIndexKey` in order, at most `limit` (1–100, default 100, as GetCounteragentEvents documents it); no key: from the start of the box's history |
 * | BoxEvent | OpenAPI components.schemas.BoxEvent; doc proto/BoxEvent | `{EventId, IndexKey, Message}` or `{EventId, IndexKey, Patch}`: IndexKey an opaque base64 key (it holds `+`, `/` and `=`, as the key in diadoc/diadocapi-docs issue #1078 does) |
 * | Message | OpenAPI components.schemas.Message; proto Events/DiadocMessage-GetApi.proto | `MessageId, TimestampTicks, LastPatchTimestampTicks` (int64 .NET ticks in UTC, written as JSON integers beyond 2^53), `FromBoxId, FromTitle, ToBoxId, ToTitle, Entities[EventEntity], MessageType` ("Letter", "Draft", "Template"), `IsDeleted, LockMode` |
 * | MessagePatch | OpenAPI components.schemas.MessagePatch | `MessageId, PatchId, TimestampTicks, Entities[EventEntity], EntityPatches[{EntityId, DocumentIsDeleted, …}], MessageIsDeleted, MessageType` |
 * | EventEntity | OpenAPI components.schemas.EventEntity, EntityType, Document | `EntityType` ("Attachment", "Signature"), `EntityId, ParentEntityId, AttachmentType` (enum name, e.g. "UniversalTransferDocument", "Title", "InvoiceReceipt"), `FileName, RawCreationDate` (ticks), `SignerBoxId` (signatures), `DocumentInfo` (Document: `MessageId, EntityId, CreationTimestampTicks, CounteragentBoxId, TypeNamedId, Function, Version, Title, DocumentNumber, DocumentDate, DocumentDirection`) |
 * | errors | OpenAPI responses of /V8/GetNewEvents and its neighbours; doc Authorization ("Проверка прав пользователя") | text/plain bodies: 400 bad parameters (an unknown or mangled afterIndexKey: "cursor must have valid value", diadocapi-docs issue #1078), 401 no or bad `Authorization` (with `WWW-Authenticate`), 402 the box's API subscription ended, 403 the box is not among the user's boxes, 405 not GET, 500 |
 * | POST /V3/Authenticate?type=password | OpenAPI paths./V3/Authenticate; doc http/Authenticate | body `{login, password}` JSON, `Authorization: DiadocAuth ddauth_api_client_id=…`; 200 the token as text; 401 unknown developer key or wrong login/password |
 *
 * Authorization (doc Authorization.rst): `DiadocAuth ddauth_api_client_id=<key>, ddauth_token=<token>` (parameters
 * separated by commas, values after `=`; a token may itself end in `=`) or, with OpenID Connect, `Bearer <access_token>`.
 * Only Node built-ins are imported.
 */

/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch. */
const epochTicks = 621_355_968_000_000_000n;

/** The .NET ticks (UTC) of an ISO time, exactly (sub-millisecond part from `extraTicks`). */
export function ticksOf(iso: string, extraTicks = 0n): bigint {
  return BigInt(Date.parse(iso)) * 10_000n + epochTicks + extraTicks;
}

export interface EventEntity {
  EntityType: 'Attachment' | 'Signature';
  EntityId: string;
  ParentEntityId?: string;
  AttachmentType?: string;
  FileName?: string;
  RawCreationDate?: bigint;
  SignerBoxId?: string;
  DocumentInfo?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface MessageJson {
  MessageId: string;
  TimestampTicks: bigint;
  LastPatchTimestampTicks: bigint;
  FromBoxId: string;
  FromTitle: string;
  ToBoxId?: string;
  ToTitle?: string;
  Entities: EventEntity[];
  MessageType?: 'Letter' | 'Draft' | 'Template';
  [key: string]: unknown;
}

export interface PatchJson {
  MessageId: string;
  PatchId: string;
  TimestampTicks: bigint;
  Entities: EventEntity[];
  EntityPatches?: Array<Record<string, unknown>>;
  MessageType?: 'Letter' | 'Draft' | 'Template';
  [key: string]: unknown;
}

/** A BoxEvent as the box's history holds it: the server adds its IndexKey. */
export type BoxEventInput = { EventId: string; Message: MessageJson } | { EventId: string; Patch: PatchJson };

export interface RecordedRequest {
  method: string;
  path: string;
  /** The raw query string, exactly as sent (so a test can see how the key was encoded). */
  rawQuery: string;
  query: URLSearchParams;
  authorization?: string;
  accept?: string;
  status: number;
}

/** How one request fails: a status (and body), no answer at all, or 'pass' (answered normally). */
export type Failure = { status: number; body?: string } | 'hang' | 'pass';

export interface DiadocServerOptions {
  /** The developer key DiadocAuth accepts (ddauth_api_client_id). */
  apiClientId?: string;
  /** A token (ddauth_token or an OIDC bearer token) → the box ids its user may read. */
  tokens?: Record<string, string[]>;
  /** login/password accepted by /V3/Authenticate → the token it answers. */
  logins?: Record<string, { password: string; token: string }>;
}

interface Box {
  events: Array<BoxEventInput & { IndexKey: string }>;
  subscriptionEnded: boolean;
}

export class DiadocServer {
  readonly requests: RecordedRequest[] = [];
  private readonly boxes = new Map<string, Box>();
  private readonly failures: Failure[] = [];
  private readonly hung = new Set<http.ServerResponse>();
  private server?: http.Server;
  url = '';

  constructor(private readonly options: DiadocServerOptions = {}) {}

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk) => { body += chunk; });
      request.on('end', () => this.handle(request, response, body));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const response of this.hung) response.destroy();
    this.hung.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Appends events to a box's history (creating the box), each with a fresh IndexKey. */
  addEvents(boxId: string, events: BoxEventInput[]): void {
    const box = this.box(boxId);
    for (const event of events) box.events.push({ ...event, IndexKey: indexKeyOf(boxId, box.events.length) });
  }

  eventsOf(boxId: string): ReadonlyArray<BoxEventInput & { IndexKey: string }> {
    return this.box(boxId).events;
  }

  endSubscription(boxId: string): void {
    this.box(boxId).subscriptionEnded = true;
  }

  renewSubscription(boxId: string): void {
    this.box(boxId).subscriptionEnded = false;
  }

  /** The next requests fail this way, in order (one per request; 'pass' lets one through). */
  failNext(...failures: Failure[]): void {
    this.failures.push(...failures);
  }

  /** GetNewEvents requests only. */
  get feedRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === '/V8/GetNewEvents');
  }

  private box(boxId: string): Box {
    const key = boxId.toLowerCase();
    let box = this.boxes.get(key);
    if (!box) this.boxes.set(key, (box = { events: [], subscriptionEnded: false }));
    return box;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse, body: string): void {
    const [path, rawQuery = ''] = (request.url ?? '/').split('?', 2);
    const recorded: RecordedRequest = {
      method: request.method ?? 'GET', path, rawQuery, query: new URLSearchParams(rawQuery),
      authorization: request.headers.authorization, accept: request.headers.accept, status: 0,
    };
    this.requests.push(recorded);
    const send = (status: number, text: string | Buffer, headers: Record<string, string> = {}) => {
      recorded.status = status;
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      response.end(text);
    };

    const failure = this.failures.shift();
    if (failure === 'pass' || failure === undefined) {
      // answered normally below
    } else if (failure === 'hang') {
      this.hung.add(response);
      response.on('close', () => this.hung.delete(response));
      return;
    } else {
      return send(failure.status, failure.body ?? http.STATUS_CODES[failure.status] ?? '');
    }

    if (path === '/V3/Authenticate') return this.authenticate(request, recorded.query, body, send);
    if (path !== '/V8/GetNewEvents') return send(404, 'Not Found');
    if (request.method !== 'GET') return send(405, 'Method Not Allowed', { allow: 'GET' });

    const auth = this.authorize(request.headers.authorization);
    if (!auth.ok) return send(401, auth.reason, { 'www-authenticate': 'DiadocAuth' });

    const query = recorded.query;
    const boxId = query.get('boxId') ?? '';
    if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(boxId)) return send(400, `boxId must be a GUID: ${boxId}`);
    // Authorization.rst, step 3: a box that is not among the user's boxes is 403, whether it exists or not.
    if (!auth.boxes.some((b) => b.toLowerCase() === boxId.toLowerCase())) return send(403, `Access to box ${boxId} is forbidden`);
    const box = this.box(boxId);
    if (box.subscriptionEnded) return send(402, `The API subscription of box ${boxId} has expired`);

    const afterIndexKey = query.get('afterIndexKey');
    const afterEventId = query.get('afterEventId');
    if (afterIndexKey !== null && afterEventId !== null) return send(400, 'afterIndexKey and afterEventId cannot be used together');
    const limitText = query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return send(400, 'limit must be from 1 to 100');

    let start = 0;
    if (afterIndexKey !== null) {
      const position = box.events.findIndex((event) => event.IndexKey === afterIndexKey);
      if (position < 0) return send(400, 'cursor must have valid value');
      start = position + 1;
    } else if (afterEventId !== null) {
      const position = box.events.findIndex((event) => event.EventId === afterEventId);
      if (position < 0) return send(400, `event ${afterEventId} is not found`);
      start = position + 1;
    }
    const rest = box.events.slice(start);
    const list = { Events: rest.slice(0, limit), TotalCount: rest.length, TotalCountType: 'Equal' };
    // Protobuf is Diadoc's default format (techinfo: "По умолчанию … Protocol Buffers"); JSON only when asked.
    if (!(request.headers.accept ?? '').includes('application/json')) {
      return send(200, Buffer.from([0x0a, 0x00, 0x10, rest.length & 0x7f]), { 'content-type': 'application/x-protobuf' });
    }
    send(200, toJson(list), { 'content-type': 'application/json; charset=utf-8' });
  }

  private authenticate(request: http.IncomingMessage, query: URLSearchParams, body: string, send: (status: number, text: string, headers?: Record<string, string>) => void): void {
    if (request.method !== 'POST') return send(405, 'Method Not Allowed', { allow: 'POST' });
    const params = parseDiadocAuth(request.headers.authorization);
    if (!params || params.ddauth_api_client_id !== this.options.apiClientId) {
      return send(401, 'ddauth_api_client_id is missing or not registered', { 'www-authenticate': 'DiadocAuth' });
    }
    if (query.get('type') !== 'password') return send(400, 'type must be password, certificate or sid');
    let credentials: { login?: unknown; password?: unknown };
    try {
      credentials = JSON.parse(body) as { login?: unknown; password?: unknown };
    } catch {
      return send(400, 'the body must be LoginPassword JSON');
    }
    const login = this.options.logins?.[String(credentials.login)];
    if (!login || login.password !== credentials.password) return send(401, 'Invalid login or password', { 'www-authenticate': 'DiadocAuth' });
    send(200, login.token, { 'content-type': 'application/octet-stream' });
  }

  private authorize(header: string | undefined): { ok: true; boxes: string[] } | { ok: false; reason: string } {
    if (!header) return { ok: false, reason: 'Authorization header is missing' };
    const bearer = /^Bearer\s+(\S+)$/i.exec(header);
    if (bearer) {
      const boxes = this.options.tokens?.[bearer[1]];
      return boxes ? { ok: true, boxes } : { ok: false, reason: 'The access token is invalid or expired' };
    }
    const params = parseDiadocAuth(header);
    if (!params) return { ok: false, reason: 'Unknown authorization scheme' };
    if (params.ddauth_api_client_id !== this.options.apiClientId) return { ok: false, reason: 'ddauth_api_client_id is not registered' };
    const boxes = params.ddauth_token === undefined ? undefined : this.options.tokens?.[params.ddauth_token];
    return boxes ? { ok: true, boxes } : { ok: false, reason: 'ddauth_token is missing, corrupted or expired' };
  }
}

/** `DiadocAuth a=b, c=d`: names and values split at the first `=` (a base64 token keeps its padding). */
function parseDiadocAuth(header: string | undefined): Record<string, string> | undefined {
  const match = /^DiadocAuth\s+(.*)$/is.exec(header ?? '');
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const part of match[1].split(',')) {
    const at = part.indexOf('=');
    if (at > 0) params[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return params;
}

/** An opaque base64 key with `+`, `/` and `=` in it: a client that does not URL-encode it sends another key. */
function indexKeyOf(boxId: string, position: number): string {
  const bytes = Buffer.alloc(13);
  bytes.set([0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff]);
  bytes.write(boxId.replace(/-/g, '').slice(0, 6), 6, 'hex');
  bytes.writeUInt32BE(position, 9);
  return bytes.toString('base64');
}

/** JSON with the int64 tick fields written as integers, as .NET writes them (beyond 2^53, no quotes). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `\u0000big:${v}` : v))
    .replace(/"\\u0000big:(-?\d+)"/g, '$1');
}

export async function startDiadocServer(options: DiadocServerOptions = {}): Promise<DiadocServer> {
  return new DiadocServer(options).start();
}
