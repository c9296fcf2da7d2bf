import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * An Elasticsearch stand-in over real HTTP that keeps state and answers like the real REST API (9.x) where the
 * exchange tool and its tests look. Each line below was checked against Elastic's own description of the API:
 * `spec:` = a file of elastic/elasticsearch-specification (the source of the reference pages and of the client's
 * types), `es:` = a file of elastic/elasticsearch, `js:` = a file of @elastic/transport 9.x, `ref:` = a page of
 * elastic.co/guide/en/elasticsearch/reference. The client is not the judge: what the docs say is.
 *
 * | API | doc file or page | response shape served |
 * | --- | --- | --- |
 * | any 2xx answer | js: lib/middleware/ProductCheck.js | header `X-Elastic-Product: Elasticsearch`; the client refuses a 2xx without it (ProductNotSupportedError); 401 answers and HTTP-layer 413 carry none |
 * | any error | spec: specification/_types/Errors.ts (ErrorResponseBase) | `{error: {root_cause: [{type, reason, …}], type, reason, …}, status}` with the HTTP status |
 * | `GET /` | spec: specification/_global/info/RootNodeInfoResponse.ts | `{name, cluster_name, cluster_uuid, version: {number: '9.x', build_flavor, …, lucene_version, minimum_wire_compatibility_version, minimum_index_compatibility_version}, tagline}` |
 * | `PUT /<index>` (settings, mappings, aliases) | spec: specification/indices/create/IndicesCreateResponse.ts | 200 `{acknowledged: true, shards_acknowledged: true, index}`; 400 `resource_already_exists_exception`, `invalid_index_name_exception`, `mapper_parsing_exception`, `illegal_argument_exception` (a bad `index.gc_deletes`) |
 * | `HEAD /<index>` | spec: specification/indices/exists/IndicesExistsRequest.ts | 200 or 404, no body |
 * | `GET /<index>` (`expand_wildcards`) | spec: specification/indices/get/IndicesGetResponse.ts | `{<index>: {aliases, mappings, settings: {index: {…, gc_deletes}}}}`; a wildcard matching nothing is `{}` |
 * | `GET /<index>/_mapping` | spec: specification/indices/get_mapping/IndicesGetMappingResponse.ts | `{<index>: {mappings}}` |
 * | `GET|PUT /<index>/_settings` | spec: specification/indices/get_settings/IndicesGetSettingsResponse.ts, put_settings/IndicesPutSettingsResponse.ts | GET `{<index>: {settings: {index: {…}}}}` (a default such as gc_deletes absent); PUT 200 `{acknowledged: true}`, 400 `illegal_argument_exception` for a static setting or a bad time value |
 * | `POST /_aliases` | spec: specification/indices/update_aliases/IndicesUpdateAliasesRequest.ts, …BulkResponse.ts | all actions or none: 200 `{acknowledged: true, errors: false}`; 404 `index_not_found_exception`; 404 `aliases_not_found_exception` (remove with `must_exist`) |
 * | `GET /_alias/<name>` | spec: specification/indices/get_alias/IndicesGetAliasResponse.ts, _types/response.ts (NotFoundAliases) | 200 `{<index>: {aliases: {<name>: {}}}}`; 404 `{error: 'alias [<name>] missing', status: 404}` (a string error) |
 * | `POST /_bulk`, `/<target>/_bulk` (`require_alias`) | spec: specification/_global/bulk/BulkRequest.ts, BulkResponse.ts, types.ts (ResponseItem) | 200 `{errors, took, items: [{<op>: {_index, _id, _version, result, _shards, _seq_no, _primary_term, status}}]}` in request order; a failed item `{_index, _id, status, error: {type, reason, index_uuid, shard, index}}`: 409 `version_conflict_engine_exception`, 429 `es_rejected_execution_exception`, 400 `document_parsing_exception` / `strict_dynamic_mapping_exception`, 404 `index_not_found_exception` (require_alias); a delete of a missing document 404 `result: 'not_found'` with no error |
 * | whole-request failures | ref: tune-for-indexing-speed.html (429), facts/elasticsearch.md §D | 429 `es_rejected_execution_exception` (coordinating indexing pressure), 503 `cluster_block_exception`, 401 `security_exception` with `WWW-Authenticate`, 403 `security_exception`, 413 with no body (HTTP layer) |
 * | external versions, tombstones | ref: docs-delete.html#delete-versioning; es: server/src/main/java/org/elasticsearch/index/IndexSettings.java (INDEX_GC_DELETES_SETTING) | `external` refuses a version ≤ current, `external_gte` < current (409); a delete keeps its version for `index.gc_deletes` (60 s default, dynamic), then the id is unknown and any version is accepted |
 * | `GET /<target>/_count` | spec: specification/_global/count/CountResponse.ts | `{count, _shards: {total, successful, skipped, failed}}`; 404 `index_not_found_exception` |
 * | `GET /<index>/_doc/<id>` | spec: specification/_global/get/GetResponse.ts | 200 `{_index, _id, _version, _seq_no, _primary_term, found: true, _source}`; 404 `{_index, _id, found: false}` |
 * | `PUT|DELETE /<index>/_doc/<id>` | spec: specification/_global/index/IndexResponse.ts, _global/delete/DeleteResponse.ts | the bulk item's body (without `status`); a missing delete 404 `result: 'not_found'`; other failures the error body |
 * | `POST /_reindex` (`wait_for_completion`, `conflicts`, `dest.version_type`) | spec: specification/_global/reindex/ReindexResponse.ts; ref: docs-reindex.html | copies a snapshot of the source taken at the start; `{took, timed_out, total, updated, created, deleted, batches, version_conflicts, noops, retries: {bulk, search}, throttled_millis, requests_per_second, throttled_until_millis, failures}`; with `wait_for_completion=false` `{task: '<node>:<n>'}` |
 * | `GET /_tasks/<id>` | spec: specification/tasks/get/GetTaskResponse.ts; es: ElasticsearchTimeoutException.java | `{completed, task: {node, id, type, action, status, description, start_time_in_millis, running_time_in_nanos, cancellable, cancelled, headers}, response?}`; `wait_for_completion=true` past its `timeout` 429 `elasticsearch_timeout_exception`; unknown 404 `resource_not_found_exception` |
 * | `POST /_refresh`, `/<target>/_refresh` | spec: specification/indices/refresh/IndicesRefreshResponse.ts | `{_shards: {total, successful, failed}}` |
 *
 * Switches inject what a real cluster does under stress: per-item 429, a document the mapping refuses, a whole
 * request answered 503/429/500/413, a request never answered (timeout), credentials refused (401) or a missing
 * privilege (403), the cluster gone (stop/resume: connections refused), a reindex task still running; and a
 * clock to move past `index.gc_deletes` without waiting.
 */

type Json = Record<string, unknown>;

export interface StoredDocument {
  source: Json;
  version: number;
  seqNo: number;
}

interface MappingNode {
  type?: string;
  dynamic?: boolean | string;
  properties?: Record<string, MappingNode>;
  analyzer?: string;
  scaling_factor?: number;
  fields?: Record<string, MappingNode>;
  [key: string]: unknown;
}

interface StoredIndex {
  name: string;
  uuid: string;
  createdAt: number;
  settings: Record<string, string>;
  mappings: MappingNode & { _meta?: Json };
  docs: Map<string, StoredDocument>;
  /**
   * Versions of deleted documents and when they were deleted: external versioning refuses older writes after a
   * delete only while the tombstone lives, `index.gc_deletes` (60 s by default); after that the id is unknown.
   */
  tombstones: Map<string, { version: number; deletedAt: number }>;
  aliases: Map<string, { is_write_index?: boolean }>;
  seqNo: number;
}

interface Failure {
  status: number;
  body: Json;
  headers?: Record<string, string | string[]>;
}

export interface ElasticsearchCounters {
  requests: number;
  bulkRequests: number;
  bulkItems: number;
  /** Items answered 429 by the injection switches. */
  rejectedItems: number;
  /** Items refused by the mapping (real checks or the poison switch). */
  refusedItems: number;
  versionConflicts: number;
  /** Whole requests answered with an injected status. */
  failedRequests: number;
  unauthorized: number;
  aliasUpdates: number;
  reindexes: number;
}

const builtInAnalyzers = new Set(['standard', 'simple', 'whitespace', 'stop', 'keyword', 'pattern', 'fingerprint', 'english', 'russian', 'german', 'french']);
const fieldTypes = new Set(['text', 'keyword', 'long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'boolean', 'date', 'object', 'nested', 'flattened']);
const numericTypes = new Set(['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float']);
const clusterVersion = '9.1.5';

export class ElasticsearchTestServer {
  readonly indices = new Map<string, StoredIndex>();
  readonly counters: ElasticsearchCounters = {
    requests: 0, bulkRequests: 0, bulkItems: 0, rejectedItems: 0, refusedItems: 0, versionConflicts: 0,
    failedRequests: 0, unauthorized: 0, aliasUpdates: 0, reindexes: 0,
  };
  /** Method and path of every request, in order. */
  readonly log: Array<{ method: string; path: string }> = [];

  private readonly rejectById = new Map<string, number>();
  private rejectNext = 0;
  private readonly poisonIds = new Map<string, string>();
  private failNext: { count: number; status: number; path: RegExp } = { count: 0, status: 503, path: /./ };
  private credentials?: { apiKey?: string; basic?: string };
  private revoked = false;
  private forbidden = false;
  private readonly tasks = new Map<string, Json>();
  private taskSeq = 0;
  private readonly nodeId = randomBytes(11).toString('base64url');
  /** Reindex tasks waiting for releaseReindexTasks(), each with the snapshot it took when it started. */
  private readonly heldCopies: Array<() => void> = [];
  private holdCopies = false;
  private hangNext: { count: number; path: RegExp } = { count: 0, path: /./ };
  private readonly hanging = new Set<http.ServerResponse>();
  private clockOffsetMs = 0;
  private listening = true;

  private constructor(private readonly server: http.Server, readonly url: string, private readonly port: number, private readonly defaultGcDeletesMs: number) {}

  /**
   * `gcDeletes`: how long a delete's tombstone lives in an index that does not set `index.gc_deletes`
   * (Elasticsearch's default is 60 s; a time value such as '60s', '1h', '7d').
   */
  static async start(options: { apiKey?: string; username?: string; password?: string; gcDeletes?: string } = {}): Promise<ElasticsearchTestServer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const gcDeletesMs = timeValueMs(options.gcDeletes ?? '60s');
    if (gcDeletesMs === undefined) throw new Error(`gcDeletes: not a time value: ${options.gcDeletes}`);
    const instance = new ElasticsearchTestServer(server, `http://127.0.0.1:${port}`, port, gcDeletesMs);
    if (options.apiKey || options.username) {
      instance.credentials = {
        apiKey: options.apiKey,
        basic: options.username ? Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64') : undefined,
      };
    }
    server.on('request', (request, response) => { void instance.handle(request, response); });
    return instance;
  }

  // ---- failure switches ----

  /** Answers 429 es_rejected_execution_exception for these ids, `times` times each (default: until cleared). */
  reject429(ids: string[], times = Number.POSITIVE_INFINITY): void {
    for (const id of ids) this.rejectById.set(id, times);
  }

  /** Answers 429 for the next `count` bulk items, whatever they are. */
  rejectNextItems(count: number): void {
    this.rejectNext = count;
  }

  /** Refuses this document as the mapping would (400), every time. */
  poison(id: string, type = 'document_parsing_exception'): void {
    this.poisonIds.set(id, type);
  }

  /** Answers the next `count` requests whose path matches with `status` as a whole (503 by default, only `_bulk`). */
  failNextRequests(count: number, status = 503, path: RegExp = /\/_bulk$/): void {
    this.failNext = { count, status, path };
  }

  /** Every request from now on is refused 401, as after a revoked API key or a changed password. */
  revokeCredentials(): void {
    this.revoked = true;
  }

  /** Writes are refused 403: the credentials are fine but lack the write privilege. */
  forbidWrites(forbid = true): void {
    this.forbidden = forbid;
  }

  /** The next `count` matching requests are read and never answered: the client's request timeout ends them. */
  hangNextRequests(count: number, path: RegExp = /\/_bulk$/): void {
    this.hangNext = { count, path };
  }

  /** Reindex tasks started from now on keep running (`completed: false`) until releaseReindexTasks(). */
  holdReindexTasks(): void {
    this.holdCopies = true;
  }

  /** Lets held reindex tasks finish: each copies the snapshot of the source it took when it started. */
  releaseReindexTasks(): void {
    this.holdCopies = false;
    for (const copy of this.heldCopies.splice(0)) copy();
  }

  /** Moves the stand-in's clock (tombstone ages, creation dates) forward without waiting. */
  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** The cluster goes away: connections are refused until resume(); the data stays. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The cluster is back, on the same port, with the same indices. */
  async resume(): Promise<void> {
    if (this.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.listening = true;
  }

  clearFailures(): void {
    this.hangNext = { count: 0, path: /./ };
    this.rejectById.clear();
    this.rejectNext = 0;
    this.poisonIds.clear();
    this.failNext = { count: 0, status: 503, path: /./ };
    this.revoked = false;
    this.forbidden = false;
  }

  // ---- state, for assertions ----

  /** Concrete index names an alias points to. */
  aliasTargets(alias: string): string[] {
    return [...this.indices.values()].filter((index) => index.aliases.has(alias)).map((index) => index.name).sort();
  }

  document(indexOrAlias: string, id: string): StoredDocument | undefined {
    return this.single(indexOrAlias)?.docs.get(id);
  }

  count(indexOrAlias: string): number {
    return this.resolve(indexOrAlias).reduce((sum, index) => sum + index.docs.size, 0);
  }

  mappingOf(index: string): MappingNode | undefined {
    return this.indices.get(index)?.mappings;
  }

  settingsOf(index: string): Record<string, string> | undefined {
    return this.indices.get(index)?.settings;
  }

  /** Creates an index directly, as an operator or an older version of the tool would have. */
  createIndex(name: string, body: Json = {}): void {
    const failure = this.createIndexFrom(name, body);
    if (failure) throw new Error(JSON.stringify(failure.body));
  }

  async close(): Promise<void> {
    await this.stop();
  }

  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** The version a live tombstone keeps for `id`; an expired one is dropped, as the engine prunes it. */
  private tombstone(index: StoredIndex, id: string): number | undefined {
    const tombstone = index.tombstones.get(id);
    if (!tombstone) return undefined;
    const setting = index.settings['index.gc_deletes'];
    const gcMs = Math.max(0, setting === undefined ? this.defaultGcDeletesMs : timeValueMs(setting) ?? this.defaultGcDeletesMs);
    if (this.now() - tombstone.deletedAt > gcMs) {
      index.tombstones.delete(id);
      return undefined;
    }
    return tombstone.version;
  }

  // ---- HTTP ----

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    if (/gzip/.test(String(request.headers['content-encoding'] ?? ''))) raw = gunzipSync(raw);
    const url = new URL(request.url ?? '/', this.url);
    const method = request.method ?? 'GET';
    const path = url.pathname;
    this.counters.requests++;
    this.log.push({ method, path });
    const compatible = /compatible-with=(\d+)/.exec(String(request.headers.accept ?? ''));
    const send = (status: number, body?: unknown, headers: Record<string, string | string[]> = {}, product = true) => {
      const text = body === undefined || method === 'HEAD' ? '' : JSON.stringify(body);
      response.writeHead(status, {
        ...(product ? { 'x-elastic-product': 'Elasticsearch' } : {}),
        'content-type': compatible ? `application/vnd.elasticsearch+json;compatible-with=${compatible[1]}` : 'application/json',
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      response.end(text);
    };
    try {
      const authFailure = this.authenticate(request, path);
      if (authFailure) {
        this.counters.unauthorized++;
        // Real clusters leave the product header off answers to unauthenticated requests.
        send(authFailure.status, authFailure.body, authFailure.headers, false);
        return;
      }
      if (compatible && Number(compatible[1]) > 9) {
        send(400, errorBody(400, 'media_type_header_exception', `Invalid media-type value on headers [Accept, Content-Type]`));
        return;
      }
      if (this.hangNext.count > 0 && this.hangNext.path.test(path)) {
        this.hangNext.count--;
        this.hanging.add(response);
        response.on('close', () => this.hanging.delete(response));
        return;
      }
      if (this.failNext.count > 0 && this.failNext.path.test(path)) {
        this.failNext.count--;
        this.counters.failedRequests++;
        const status = this.failNext.status;
        // 413 comes from the HTTP layer (http.max_content_length) before any Elasticsearch code: no body, no product header.
        if (status === 413) {
          send(413, undefined, {}, false);
          return;
        }
        send(status, status === 429
          ? errorBody(429, 'es_rejected_execution_exception', 'rejected execution of coordinating operation [coordinating_and_primary_bytes=1700696668, replica_bytes=0, all_bytes=1700696668, coordinating_operation_bytes=26208468, max_coordinating_and_primary_bytes=1717986918]')
          : errorBody(status, 'cluster_block_exception', 'blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];'));
        return;
      }
      const waited = await this.waitForTask(method, path, url.searchParams);
      if (waited) {
        send(waited.status, waited.body);
        return;
      }
      const result = this.route(method, path, url.searchParams, raw.toString('utf8'));
      send(result.status, result.body, result.headers);
    } catch (error) {
      if (error instanceof BadRequest) send(error.status, errorBody(error.status, error.type, error.message, error.extra));
      else send(500, errorBody(500, 'exception', (error as Error).stack ?? String(error)));
    }
  }

  /**
   * `GET /_tasks/<id>?wait_for_completion=true` on a running task blocks until it completes or `timeout`
   * (30 s by default) passes; then the task manager's ElasticsearchTimeoutException answers 429.
   */
  private async waitForTask(method: string, path: string, query: URLSearchParams): Promise<{ status: number; body: unknown } | undefined> {
    const match = /^\/_tasks\/([^/]+)$/.exec(path);
    if (method !== 'GET' || !match || query.get('wait_for_completion') !== 'true') return undefined;
    const taskId = decodeURIComponent(match[1]);
    const timeoutMs = timeValueMs(query.get('timeout') ?? '30s') ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    while (this.tasks.get(taskId)?.completed === false) {
      if (Date.now() >= deadline) {
        const task = (this.tasks.get(taskId)!.task as Json);
        return { status: 429, body: errorBody(429, 'elasticsearch_timeout_exception', `Timed out waiting for completion of [Task{id=${task.id}, type='transport', action='indices:data/write/reindex', description='${task.description}', parentTask=unset, startTime=${task.start_time_in_millis}, startTimeNanos=0}]`) };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return undefined;
  }

  private authenticate(request: http.IncomingMessage, path: string): Failure | undefined {
    const header = String(request.headers.authorization ?? '');
    const challenge = { 'www-authenticate': ['Basic realm="security", charset="UTF-8"', 'ApiKey'] };
    if (this.revoked || (this.credentials && !header)) {
      return {
        status: 401,
        body: errorBody(401, 'security_exception', this.revoked
          ? `unable to authenticate with provided credentials and anonymous access is not allowed for this request`
          : `missing authentication credentials for REST request [${path}]`),
        headers: challenge,
      };
    }
    if (!this.credentials) return undefined;
    const valid = (this.credentials.apiKey && header === `ApiKey ${this.credentials.apiKey}`) || (this.credentials.basic && header === `Basic ${this.credentials.basic}`);
    if (valid) return undefined;
    return { status: 401, body: errorBody(401, 'security_exception', `unable to authenticate with provided credentials and anonymous access is not allowed for this request`), headers: challenge };
  }

  private route(method: string, path: string, query: URLSearchParams, body: string): { status: number; body?: unknown; headers?: Record<string, string> } {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0) {
      if (method === 'GET' || method === 'HEAD') return { status: 200, body: this.info() };
    } else if (parts[0] === '_bulk' && parts.length === 1 && (method === 'POST' || method === 'PUT')) {
      return this.bulk(undefined, query, body);
    } else if (parts[0] === '_aliases' && parts.length === 1 && method === 'POST') {
      return this.updateAliases(parseJson(body));
    } else if (parts[0] === '_alias' && parts.length === 2 && (method === 'GET' || method === 'HEAD')) {
      return this.getAlias(parts[1]);
    } else if (parts[0] === '_reindex' && parts.length === 1 && method === 'POST') {
      return this.reindex(parseJson(body), query);
    } else if (parts[0] === '_tasks' && parts.length === 2 && method === 'GET') {
      const task = this.tasks.get(parts[1]);
      return task ? { status: 200, body: task } : { status: 404, body: errorBody(404, 'resource_not_found_exception', `task [${parts[1]}] isn't running and hasn't stored its results`) };
    } else if (parts[0] === '_refresh' && parts.length === 1) {
      return { status: 200, body: { _shards: this.shardCounts([...this.indices.values()]) } };
    } else if (!parts[0].startsWith('_')) {
      const target = parts[0];
      if (parts.length === 1) return this.indexLevel(method, target, query, body);
      const action = parts[1];
      if (action === '_bulk' && (method === 'POST' || method === 'PUT')) return this.bulk(target, query, body);
      if (action === '_count' && (method === 'GET' || method === 'POST')) return this.countRequest(target, body);
      if (action === '_refresh' && (method === 'GET' || method === 'POST')) return { status: 200, body: { _shards: this.shardCounts(this.resolveOrThrow(target)) } };
      if (action === '_mapping' && method === 'GET') {
        return { status: 200, body: Object.fromEntries(this.resolveOrThrow(target).map((index) => [index.name, { mappings: index.mappings }])) };
      }
      if (action === '_settings' && parts.length === 2 && method === 'GET') {
        return { status: 200, body: Object.fromEntries(this.resolveOrThrow(target).map((index) => [index.name, { settings: (this.describe(index) as { settings: Json }).settings }])) };
      }
      if (action === '_settings' && parts.length === 2 && method === 'PUT') return this.putSettings(target, parseJson(body));
      if (action === '_doc' && parts.length === 3 && (method === 'GET' || method === 'HEAD')) return this.getDocument(target, parts[2]);
      if (action === '_doc' && parts.length === 3 && (method === 'PUT' || method === 'POST' || method === 'DELETE')) return this.singleWrite(method === 'DELETE' ? 'delete' : 'index', target, parts[2], query, body);
    }
    return { status: 400, body: { error: `no handler found for uri [${path}] and method [${method}]` } };
  }

  private info(): Json {
    return {
      name: 'es-test-node',
      cluster_name: 'exchange-test',
      cluster_uuid: 'qD0uR6pVQ1CBtQpIoUM6wg',
      version: {
        number: clusterVersion, build_flavor: 'default', build_type: 'docker', build_hash: '0000000000000000000000000000000000000000',
        build_date: '2025-10-01T00:00:00.000Z', build_snapshot: false, lucene_version: '10.2.2',
        minimum_wire_compatibility_version: '8.19.0', minimum_index_compatibility_version: '8.0.0',
      },
      tagline: 'You Know, for Search',
    };
  }

  // ---- indices and aliases ----

  private indexLevel(method: string, target: string, query: URLSearchParams, body: string): { status: number; body?: unknown } {
    if (method === 'PUT') {
      const failure = this.createIndexFrom(target, body ? parseJson(body) : {});
      return failure ?? { status: 200, body: { acknowledged: true, shards_acknowledged: true, index: target } };
    }
    if (method === 'HEAD') return { status: this.resolve(target, query).length > 0 || target.includes('*') ? 200 : 404 };
    if (method === 'GET') {
      const indices = this.resolveOrThrow(target, query);
      return { status: 200, body: Object.fromEntries(indices.map((index) => [index.name, this.describe(index)])) };
    }
    if (method === 'DELETE') {
      if (this.aliasTargets(target).length > 0 && !this.indices.has(target)) {
        throw new BadRequest(400, 'illegal_argument_exception', `The provided expression [${target}] matches an alias, specify the corresponding concrete indices instead.`);
      }
      for (const index of this.resolveOrThrow(target)) this.indices.delete(index.name);
      return { status: 200, body: { acknowledged: true } };
    }
    return { status: 405, body: { error: `Incorrect HTTP method for uri [/${target}] and method [${method}], allowed: [HEAD, DELETE, PUT, GET]`, status: 405 } };
  }

  private createIndexFrom(name: string, body: Json): Failure | undefined {
    if (name !== name.toLowerCase() || /[\\/*?"<>| ,#:]/.test(name) || /^[-_+]/.test(name) || name === '.' || name === '..') {
      return { status: 400, body: errorBody(400, 'invalid_index_name_exception', `Invalid index name [${name}], must be lowercase and must not contain \\, /, *, ?, ", <, >, |, space, comma or #, nor start with _, - or +`, { index: name }) };
    }
    if (this.indices.has(name)) {
      const existing = this.indices.get(name)!;
      return { status: 400, body: errorBody(400, 'resource_already_exists_exception', `index [${name}/${existing.uuid}] already exists`, { index_uuid: existing.uuid, index: name }) };
    }
    if (this.aliasTargets(name).length > 0) {
      return { status: 400, body: errorBody(400, 'invalid_index_name_exception', `Invalid index name [${name}], already exists as alias`, { index: name }) };
    }
    const settings = flattenSettings((body.settings ?? {}) as Json);
    const analyzers = new Set([...builtInAnalyzers, ...Object.keys(((settings.__analysis as unknown as Json)?.analyzer ?? {}) as Json)]);
    delete settings.__analysis;
    const gcDeletes = settings['index.gc_deletes'];
    if (gcDeletes !== undefined && timeValueMs(gcDeletes) === undefined) {
      return { status: 400, body: errorBody(400, 'illegal_argument_exception', `failed to parse setting [index.gc_deletes] with value [${gcDeletes}] as a time value: unit is missing or unrecognized`) };
    }
    const mappings = (body.mappings ?? {}) as MappingNode;
    const problem = mappingProblem(mappings, '', analyzers);
    if (problem) return { status: 400, body: errorBody(400, 'mapper_parsing_exception', problem) };
    const aliases = new Map<string, { is_write_index?: boolean }>();
    for (const [alias, options] of Object.entries((body.aliases ?? {}) as Record<string, Json>)) {
      if (this.indices.has(alias)) return { status: 400, body: errorBody(400, 'invalid_alias_name_exception', `Invalid alias name [${alias}]: an index or data stream exists with the same name as the alias`) };
      aliases.set(alias, { is_write_index: options.is_write_index as boolean | undefined });
    }
    const uuid = randomBytes(16).toString('base64url').slice(0, 22);
    this.indices.set(name, {
      name, uuid, createdAt: this.now(),
      settings: { 'index.number_of_shards': '1', 'index.number_of_replicas': '1', ...settings },
      mappings, docs: new Map(), tombstones: new Map(), aliases, seqNo: -1,
    });
    return undefined;
  }

  private describe(index: StoredIndex): Json {
    const settings: Json = { provided_name: index.name, creation_date: String(index.createdAt), uuid: index.uuid, version: { created: '9009000' } };
    for (const [key, value] of Object.entries(index.settings)) settings[key.replace(/^index\./, '')] = value;
    return {
      aliases: Object.fromEntries([...index.aliases].map(([alias, options]) => [alias, options.is_write_index === undefined ? {} : { is_write_index: options.is_write_index }])),
      mappings: index.mappings,
      settings: { index: settings },
    };
  }

  private getAlias(name: string): { status: number; body: unknown } {
    const targets = [...this.indices.values()].filter((index) => [...index.aliases.keys()].some((alias) => matches(name, alias)));
    if (targets.length === 0) return { status: 404, body: { error: `alias [${name}] missing`, status: 404 } };
    return {
      status: 200,
      body: Object.fromEntries(targets.map((index) => [index.name, {
        aliases: Object.fromEntries([...index.aliases].filter(([alias]) => matches(name, alias)).map(([alias, options]) => [alias, options.is_write_index === undefined ? {} : { is_write_index: options.is_write_index }])),
      }])),
    };
  }

  /** All actions are checked first and applied together, or none is: the `_aliases` API is atomic. */
  private updateAliases(body: Json): { status: number; body: unknown } {
    const actions = body.actions;
    if (!Array.isArray(actions) || actions.length === 0) throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: no actions specified;');
    const planned: Array<() => void> = [];
    for (const entry of actions as Json[]) {
      const [kind, spec] = Object.entries(entry)[0] as [string, Json];
      const indexNames = [spec.index, ...((spec.indices as string[] | undefined) ?? [])].filter((v): v is string => typeof v === 'string');
      const aliasNames = [spec.alias, ...((spec.aliases as string[] | undefined) ?? [])].filter((v): v is string => typeof v === 'string');
      const indices = indexNames.flatMap((name) => {
        const found = [...this.indices.values()].filter((index) => matches(name, index.name));
        if (found.length === 0) throw new BadRequest(404, 'index_not_found_exception', `no such index [${name}]`, { 'resource.type': 'index_or_alias', 'resource.id': name, index: name });
        return found;
      });
      if (kind === 'add') {
        for (const alias of aliasNames) {
          if (this.indices.has(alias)) throw new BadRequest(400, 'invalid_alias_name_exception', `Invalid alias name [${alias}]: an index or data stream exists with the same name as the alias`);
          for (const index of indices) planned.push(() => index.aliases.set(alias, { is_write_index: spec.is_write_index as boolean | undefined }));
        }
      } else if (kind === 'remove') {
        for (const index of indices) {
          for (const alias of aliasNames) {
            if (!index.aliases.has(alias) && spec.must_exist === true) throw new BadRequest(404, 'aliases_not_found_exception', `aliases [${alias}] missing`, { 'resource.type': 'aliases', 'resource.id': alias });
            planned.push(() => index.aliases.delete(alias));
          }
        }
      } else if (kind === 'remove_index') {
        for (const index of indices) planned.push(() => this.indices.delete(index.name));
      } else {
        throw new BadRequest(400, 'x_content_parse_exception', `[1:${JSON.stringify(body).indexOf(kind)}] [alias_action] unknown field [${kind}]`);
      }
    }
    for (const apply of planned) apply();
    this.counters.aliasUpdates++;
    return { status: 200, body: { acknowledged: true, errors: false } };
  }

  // ---- documents ----

  private bulk(pathIndex: string | undefined, query: URLSearchParams, body: string): { status: number; body: unknown } {
    this.counters.bulkRequests++;
    if (body.length === 0) throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;');
    if (!body.endsWith('\n')) throw new BadRequest(400, 'illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]');
    if (this.forbidden) {
      throw new BadRequest(403, 'security_exception', `action [indices:data/write/bulk] is unauthorized for API key id [test-key] of user [exchange] on indices [${pathIndex ?? '*'}], this action is granted by the index privileges [create_doc,create,delete,index,write,all]`);
    }
    const lines = body.split('\n');
    lines.pop();
    const started = Date.now();
    const operations: Array<{ action: string; meta: Json; source?: string; line: number }> = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === '') continue;
      const header = parseJson(lines[i], i + 1);
      const [action, meta] = Object.entries(header)[0] ?? [];
      if (!['index', 'create', 'delete', 'update'].includes(action)) {
        throw new BadRequest(400, 'illegal_argument_exception', `Malformed action/metadata line [${i + 1}], expected one of [create, delete, index, update] but found [${action}]`);
      }
      const op = { action, meta: meta as Json, line: i + 1, source: undefined as string | undefined };
      if (action !== 'delete') {
        if (i + 1 >= lines.length) throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;');
        op.source = lines[++i];
      }
      const versionType = String(op.meta.version_type ?? 'internal');
      if ((versionType === 'external' || versionType === 'external_gte')) {
        const version = op.meta.version;
        if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
          throw new BadRequest(400, 'action_request_validation_exception', `Validation Failed: 1: illegal version value [${version ?? -3}] for version type [${versionType.toUpperCase()}];`);
        }
        if (action === 'create') throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: create operations only support internal versioning. use index instead;');
      }
      operations.push(op);
    }
    if (operations.length === 0) throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: no requests added;');
    const requireAlias = query.get('require_alias') === 'true';
    const items = operations.map((op) => {
      this.counters.bulkItems++;
      return { [op.action]: this.bulkItem(op.action, op.meta, op.source, String(op.meta._index ?? pathIndex ?? ''), requireAlias || op.meta.require_alias === true) };
    });
    const errors = items.some((item) => Object.values(item)[0].error !== undefined);
    return { status: 200, body: { errors, took: Date.now() - started, items } };
  }

  private bulkItem(action: string, meta: Json, sourceText: string | undefined, target: string, requireAlias: boolean): Json {
    const id = typeof meta._id === 'string' ? meta._id : action === 'delete' || action === 'update' ? '' : randomBytes(15).toString('base64url');
    const failed = (status: number, type: string, reason: string, index?: StoredIndex, extra: Json = {}) => ({
      _index: index?.name ?? target, _id: id, status,
      error: { type, reason, ...(index ? { index_uuid: index.uuid, shard: '0', index: index.name } : { index: target }), ...extra },
    });
    if (!target) return failed(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;');
    if (action === 'update') return failed(400, 'illegal_argument_exception', 'this test server does not implement update operations');
    if (action !== 'delete' && requireAlias && this.aliasTargets(target).length === 0) {
      return failed(404, 'index_not_found_exception', `no such index [${target}] and [require_alias] request flag is [true] and [${target}] is not an alias`, undefined, { 'resource.type': 'index_expression', 'resource.id': target });
    }
    let index = this.writeIndex(target);
    if (typeof index === 'string') return failed(400, 'illegal_argument_exception', index);
    if (!index) {
      if (action === 'delete') return failed(404, 'index_not_found_exception', `no such index [${target}]`, undefined, { 'resource.type': 'index_expression', 'resource.id': target });
      // Real clusters auto-create a missing index on the first write, with a mapping guessed from the document.
      this.createIndexFrom(target, {});
      index = this.indices.get(target)!;
    }
    if (id && this.takeRejection(id)) {
      this.counters.rejectedItems++;
      return failed(429, 'es_rejected_execution_exception', `rejected execution of org.elasticsearch.action.support.replication.TransportWriteAction$1/WrappedActionListener{...} on EsThreadPoolExecutor[name = es-test-node/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@6a2f3b1c[Running, pool size = 2, active threads = 2, queued tasks = 10000, completed tasks = 48213]]`);
    }
    const versionType = String(meta.version_type ?? 'internal');
    const current = index.docs.get(id)?.version ?? this.tombstone(index, id);
    const provided = typeof meta.version === 'number' ? meta.version : undefined;
    const conflict = (message: string) => {
      this.counters.versionConflicts++;
      return failed(409, 'version_conflict_engine_exception', `[${id}]: version conflict, ${message}`, index as StoredIndex);
    };
    if (current !== undefined && provided !== undefined) {
      if (versionType === 'external' && current >= provided) return conflict(`current version [${current}] is higher or equal to the one provided [${provided}]`);
      if (versionType === 'external_gte' && current > provided) return conflict(`current version [${current}] is higher than the one provided [${provided}]`);
    }
    const external = versionType === 'external' || versionType === 'external_gte';
    const exists = index.docs.has(id);
    if (action === 'delete') {
      const version = external ? provided! : (current ?? 0) + 1;
      index.docs.delete(id);
      index.tombstones.set(id, { version, deletedAt: this.now() });
      return { ...this.written(index, id, version, exists ? 'deleted' : 'not_found'), status: exists ? 200 : 404 };
    }
    if (action === 'create' && exists) return conflict(`document already exists (current version [${current}])`);
    const poison = this.poisonIds.get(id);
    if (poison) {
      this.counters.refusedItems++;
      return failed(400, poison, `[1:42] failed to parse field [stock] of type [double] in document with id '${id}'. Preview of field's value: 'много'`, index, {
        caused_by: { type: 'number_format_exception', reason: 'For input string: "много"' },
      });
    }
    let source: Json;
    try {
      source = parseJson(sourceText ?? '');
    } catch (error) {
      this.counters.refusedItems++;
      return failed(400, 'document_parsing_exception', `[1:1] failed to parse: ${(error as Error).message}`, index);
    }
    const refusal = documentProblem(index.mappings, source, id);
    if (refusal) {
      this.counters.refusedItems++;
      return failed(400, refusal.type, refusal.reason, index, refusal.causedBy ? { caused_by: refusal.causedBy } : {});
    }
    const version = external ? provided! : (current ?? 0) + 1;
    index.docs.set(id, { source, version, seqNo: ++index.seqNo });
    index.tombstones.delete(id);
    return { ...this.written(index, id, version, exists ? 'updated' : 'created'), status: exists ? 200 : 201 };
  }

  private written(index: StoredIndex, id: string, version: number, result: string): Json {
    const replicas = Number(index.settings['index.number_of_replicas'] ?? 1);
    return { _index: index.name, _id: id, _version: version, result, _shards: { total: replicas + 1, successful: 1, failed: 0 }, _seq_no: ++index.seqNo, _primary_term: 1 };
  }

  private takeRejection(id: string): boolean {
    if (this.rejectNext > 0) {
      this.rejectNext--;
      return true;
    }
    const left = this.rejectById.get(id);
    if (left === undefined || left <= 0) return false;
    this.rejectById.set(id, left - 1);
    return true;
  }

  /** The index a write to `target` lands in; a message when an alias has several and none is the write index. */
  private writeIndex(target: string): StoredIndex | string | undefined {
    const concrete = this.indices.get(target);
    if (concrete) return concrete;
    const targets = [...this.indices.values()].filter((index) => index.aliases.has(target));
    if (targets.length === 0) return undefined;
    if (targets.length === 1 && targets[0].aliases.get(target)?.is_write_index !== false) return targets[0];
    const designated = targets.find((index) => index.aliases.get(target)?.is_write_index === true);
    return designated ?? `no write index is defined for alias [${target}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index`;
  }

  /** `PUT /<target>/_settings`: only dynamic settings; this stand-in knows gc_deletes and number_of_replicas as such. */
  private putSettings(target: string, body: Json): { status: number; body: unknown } {
    const indices = this.resolveOrThrow(target);
    const settings = flattenSettings((body.settings ?? body) as Json);
    delete settings.__analysis;
    for (const [key, value] of Object.entries(settings)) {
      if (key !== 'index.gc_deletes' && key !== 'index.number_of_replicas') {
        throw new BadRequest(400, 'illegal_argument_exception', `Can't update non dynamic settings [[${key}]] for open indices [${indices.map((index) => `[${index.name}/${index.uuid}]`).join(', ')}]`);
      }
      if (key === 'index.gc_deletes' && timeValueMs(value) === undefined) {
        throw new BadRequest(400, 'illegal_argument_exception', `failed to parse setting [index.gc_deletes] with value [${value}] as a time value: unit is missing or unrecognized`);
      }
    }
    for (const index of indices) Object.assign(index.settings, settings);
    return { status: 200, body: { acknowledged: true } };
  }

  /**
   * `PUT|DELETE /<index>/_doc/<id>`: one write, the same engine path as a bulk item. A success (and a delete
   * of a missing document, 404 `not_found`) answers the item itself; any other failure the usual error body.
   */
  private singleWrite(action: 'index' | 'delete', target: string, id: string, query: URLSearchParams, body: string): { status: number; body: unknown } {
    const version = query.get('version');
    const meta: Json = { _id: id, ...(version !== null ? { version: Number(version) } : {}), ...(query.get('version_type') ? { version_type: query.get('version_type') } : {}) };
    const item = this.bulkItem(action, meta, action === 'delete' ? undefined : body, target, query.get('require_alias') === 'true');
    const { status, error, ...rest } = item as Json & { status: number; error?: Json };
    if (!error) return { status, body: rest };
    const { type, reason, ...extra } = error as { type: string; reason: string };
    return { status, body: errorBody(status, type, reason, extra) };
  }

  private getDocument(target: string, id: string): { status: number; body: unknown } {
    const indices = this.resolveOrThrow(target);
    if (indices.length > 1) {
      throw new BadRequest(400, 'illegal_argument_exception', `alias [${target}] has more than one index associated with it [${indices.map((i) => i.name).join(', ')}], can't execute a single index op`);
    }
    const [index] = indices;
    const doc = index.docs.get(id);
    if (!doc) return { status: 404, body: { _index: index.name, _id: id, found: false } };
    return { status: 200, body: { _index: index.name, _id: id, _version: doc.version, _seq_no: doc.seqNo, _primary_term: 1, found: true, _source: doc.source } };
  }

  private countRequest(target: string, body: string): { status: number; body: unknown } {
    const indices = this.resolveOrThrow(target);
    const query = body ? (parseJson(body).query as Json | undefined) : undefined;
    let count = 0;
    for (const index of indices) for (const doc of index.docs.values()) if (matchesQuery(query, doc.source)) count++;
    return { status: 200, body: { count, _shards: { ...this.shardCounts(indices), skipped: 0 } } };
  }

  /**
   * `_reindex` reads a snapshot of the source taken when it starts (a scroll), so what is deleted from the
   * source while it copies is still copied. As a task (`wait_for_completion=false`) it answers `{task}` at once
   * and runs on; holdReindexTasks() keeps it running so that a test can write in between.
   */
  private reindex(body: Json, query: URLSearchParams): { status: number; body: unknown } {
    this.counters.reindexes++;
    const started = this.now();
    const source = (body.source ?? {}) as Json;
    const dest = (body.dest ?? {}) as Json;
    if (typeof source.index !== 'string' || typeof dest.index !== 'string') throw new BadRequest(400, 'action_request_validation_exception', 'Validation Failed: 1: use _reindex API with a source and a destination index;');
    const from = this.resolveOrThrow(source.index);
    const snapshot = from.flatMap((index) => [...index.docs].map(([id, doc]) => ({ id, version: doc.version, source: structuredClone(doc.source) })));
    const external = dest.version_type === 'external';
    const proceed = body.conflicts === 'proceed' || query.get('conflicts') === 'proceed';
    if (!this.writeIndex(dest.index)) this.createIndexFrom(dest.index, {});
    const to = this.writeIndex(dest.index);
    if (typeof to !== 'object') throw new BadRequest(400, 'illegal_argument_exception', String(to));
    const description = `reindex from [${source.index}] to [${dest.index}]`;
    const copy = (): Json => {
      const counts = { total: 0, created: 0, updated: 0, version_conflicts: 0 };
      const failures: Json[] = [];
      for (const doc of snapshot) {
        counts.total++;
        const current = to.docs.get(doc.id)?.version ?? this.tombstone(to, doc.id);
        if (external && current !== undefined && current >= doc.version) {
          counts.version_conflicts++;
          if (!proceed) {
            failures.push({ index: to.name, id: doc.id, cause: { type: 'version_conflict_engine_exception', reason: `[${doc.id}]: version conflict, current version [${current}] is higher or equal to the one provided [${doc.version}]`, index_uuid: to.uuid, shard: '0', index: to.name }, status: 409 });
            break;
          }
          continue;
        }
        const refusal = documentProblem(to.mappings, doc.source, doc.id);
        if (refusal) {
          failures.push({ index: to.name, id: doc.id, cause: { type: refusal.type, reason: refusal.reason }, status: 400 });
          break;
        }
        if (to.docs.has(doc.id)) counts.updated++;
        else counts.created++;
        to.docs.set(doc.id, { source: doc.source, version: external ? doc.version : (current ?? 0) + 1, seqNo: ++to.seqNo });
        to.tombstones.delete(doc.id);
      }
      return {
        took: this.now() - started, timed_out: false, total: counts.total, updated: counts.updated, created: counts.created, deleted: 0,
        batches: Math.max(1, Math.ceil(counts.total / 1000)), version_conflicts: counts.version_conflicts, noops: 0, retries: { bulk: 0, search: 0 },
        throttled_millis: 0, requests_per_second: -1.0, throttled_until_millis: 0, failures,
      };
    };
    if (query.get('wait_for_completion') !== 'false') return { status: 200, body: copy() };
    const taskNumber = ++this.taskSeq;
    const taskId = `${this.nodeId}:${taskNumber}`;
    const task = (status: Json): Json => ({
      node: this.nodeId, id: taskNumber, type: 'transport', action: 'indices:data/write/reindex', status, description,
      start_time_in_millis: started, running_time_in_nanos: Math.max(0, this.now() - started) * 1e6, cancellable: true, cancelled: false, headers: {},
    });
    const idle = { total: snapshot.length, updated: 0, created: 0, deleted: 0, batches: 0, version_conflicts: 0, noops: 0, retries: { bulk: 0, search: 0 }, throttled_millis: 0, requests_per_second: -1.0, throttled_until_millis: 0 };
    const finish = () => {
      const response = copy();
      const { took, timed_out, failures, ...status } = response;
      void took; void timed_out; void failures;
      this.tasks.set(taskId, { completed: true, task: task(status), response });
    };
    if (this.holdCopies) {
      this.tasks.set(taskId, { completed: false, task: task(idle) });
      this.heldCopies.push(finish);
    } else {
      finish();
    }
    return { status: 200, body: { task: taskId } };
  }

  // ---- name resolution ----

  /** Indices an expression names: comma lists, wildcards, aliases. Unknown concrete names are left out. */
  private resolve(expression: string, query?: URLSearchParams): StoredIndex[] {
    const found = new Map<string, StoredIndex>();
    for (const name of expression.split(',')) {
      for (const index of this.indices.values()) {
        if (matches(name, index.name) || [...index.aliases.keys()].some((alias) => matches(name, alias))) found.set(index.name, index);
      }
    }
    void query;
    return [...found.values()];
  }

  private resolveOrThrow(expression: string, query?: URLSearchParams): StoredIndex[] {
    const indices = this.resolve(expression, query);
    const missing = expression.split(',').find((name) => !name.includes('*') && !this.resolve(name).length);
    if (missing && query?.get('ignore_unavailable') !== 'true') {
      throw new BadRequest(404, 'index_not_found_exception', `no such index [${missing}]`, { 'resource.type': 'index_or_alias', 'resource.id': missing, index_uuid: '_na_', index: missing });
    }
    return indices;
  }

  private single(expression: string): StoredIndex | undefined {
    const indices = this.resolve(expression);
    return indices.length === 1 ? indices[0] : undefined;
  }

  private shardCounts(indices: StoredIndex[]): Json {
    const total = indices.reduce((sum, index) => sum + Number(index.settings['index.number_of_shards'] ?? 1), 0);
    return { total, successful: total, failed: 0 };
  }
}

class BadRequest extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly extra: Json = {}) {
    super(message);
  }
}

function errorBody(status: number, type: string, reason: string, extra: Json = {}): Json {
  const cause = { type, reason, ...extra };
  return { error: { root_cause: [cause], ...cause }, status };
}

function parseJson(text: string, line = 1): Json {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Json;
  } catch (error) {
    throw new BadRequest(400, 'x_content_parse_exception', `[${line}:1] Unexpected character or end of input: ${(error as Error).message}`);
  }
}

/** An Elasticsearch time value ('60s', '1h', '7d', '500ms', '-1') in milliseconds; undefined when it does not parse. */
export function timeValueMs(value: string): number | undefined {
  if (value === '-1') return -1;
  const match = /^(\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)$/.exec(value.trim());
  if (!match) return undefined;
  const unit = { nanos: 1e-6, micros: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms'];
  return Number(match[1]) * unit;
}

function matches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return regex.test(name);
}

/** Settings in either form (`{index: {number_of_shards}}`, `{number_of_shards}`, `{'index.x': …}`) as flat `index.*` strings. */
function flattenSettings(settings: Json, prefix = ''): Record<string, string> & { __analysis?: string } {
  const flat: Record<string, string> & { __analysis?: string } = {};
  for (const [key, value] of Object.entries(settings)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (path === 'analysis' || path === 'index.analysis') {
      (flat as Record<string, unknown>).__analysis = value;
      continue;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) Object.assign(flat, flattenSettings(value as Json, path));
    else flat[path.startsWith('index.') ? path : `index.${path}`] = String(value);
  }
  return flat;
}

function mappingProblem(node: MappingNode, path: string, analyzers: Set<string>): string | undefined {
  for (const [name, field] of Object.entries(node.properties ?? {})) {
    const fieldPath = path ? `${path}.${name}` : name;
    const type = field.type ?? (field.properties ? 'object' : undefined);
    if (!type || !fieldTypes.has(type)) return `No handler for type [${field.type}] declared on field [${fieldPath}]`;
    if (field.analyzer && !analyzers.has(field.analyzer)) return `Failed to parse mapping: analyzer [${field.analyzer}] has not been configured in mappings`;
    if (type === 'scaled_float' && typeof field.scaling_factor !== 'number') return `Failed to parse mapping: Field [scaling_factor] is required`;
    if (field.analyzer && type !== 'text') return `Failed to parse mapping: unknown parameter [analyzer] on mapper [${fieldPath}] of type [${type}]`;
    const inner = mappingProblem(field, fieldPath, analyzers) ?? mappingProblem({ properties: field.fields }, fieldPath, analyzers);
    if (inner) return inner;
  }
  return undefined;
}

/** What the mapping refuses in a document, as a real cluster words it; undefined when it is indexable. */
function documentProblem(mapping: MappingNode, source: Json, id: string): { type: string; reason: string; causedBy?: Json } | undefined {
  const strict = (node: MappingNode) => node.dynamic === 'strict' || node.dynamic === 'strict_allow_templates';
  const visit = (node: MappingNode, value: Json, path: string): ReturnType<typeof documentProblem> => {
    for (const [key, child] of Object.entries(value)) {
      const fieldPath = path ? `${path}.${key}` : key;
      const field = node.properties?.[key];
      if (!field) {
        if (strict(node)) return { type: 'strict_dynamic_mapping_exception', reason: `[1:2] mapping set to strict, dynamic introduction of [${key}] within [${path || '_doc'}] is not allowed` };
        continue;
      }
      const values = Array.isArray(child) ? child : [child];
      for (const item of values) {
        if (item === null) continue;
        const problem = fieldProblem(field, item, fieldPath, id, visit);
        if (problem) return problem;
      }
    }
    return undefined;
  };
  return visit(mapping, source, '');
}

function fieldProblem(field: MappingNode, value: unknown, path: string, id: string, visit: (node: MappingNode, value: Json, path: string) => ReturnType<typeof documentProblem>): ReturnType<typeof documentProblem> {
  const type = field.type ?? 'object';
  const preview = typeof value === 'object' ? JSON.stringify(value) : String(value);
  const parseFailure = (cause: Json) => ({ type: 'document_parsing_exception', reason: `[1:2] failed to parse field [${path}] of type [${type}] in document with id '${id}'. Preview of field's value: '${preview}'`, causedBy: cause });
  if (type === 'object' || type === 'nested') {
    if (typeof value !== 'object' || value === null) {
      return { type: 'document_parsing_exception', reason: `[1:2] object mapping for [${path}] tried to parse field [${path}] as object, but found a concrete value` };
    }
    return visit(field, value as Json, path);
  }
  if (type === 'flattened') {
    if (typeof value !== 'object' || value === null) return parseFailure({ type: 'illegal_argument_exception', reason: `Failed to parse [${path}]: expected an object` });
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    return parseFailure({ type: 'illegal_state_exception', reason: `Can't get text on a START_OBJECT at 1:2` });
  }
  if (numericTypes.has(type)) {
    const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (!Number.isFinite(number) || (['long', 'integer', 'short', 'byte'].includes(type) && typeof value === 'string' && !/^-?\d+(\.0*)?$/.test(value))) {
      return parseFailure({ type: 'number_format_exception', reason: `For input string: "${preview}"` });
    }
  }
  if (type === 'boolean' && !(typeof value === 'boolean' || value === 'true' || value === 'false' || value === '')) {
    return parseFailure({ type: 'illegal_argument_exception', reason: `Failed to parse value [${preview}] as only [true] or [false] are allowed.` });
  }
  if (type === 'date' && Number.isNaN(typeof value === 'number' ? value : Date.parse(String(value)))) {
    return parseFailure({ type: 'illegal_argument_exception', reason: `failed to parse date field [${preview}] with format [strict_date_optional_time||epoch_millis]` });
  }
  return undefined;
}

/** The few queries tests need: match_all, term and ids. */
function matchesQuery(query: Json | undefined, source: Json): boolean {
  if (!query || 'match_all' in query) return true;
  if ('term' in query) {
    const [field, spec] = Object.entries(query.term as Json)[0];
    const expected = typeof spec === 'object' && spec !== null ? (spec as Json).value : spec;
    const actual = field.split('.').reduce<unknown>((node, key) => (node as Json | undefined)?.[key], source);
    return Array.isArray(actual) ? actual.includes(expected) : actual === expected;
  }
  throw new BadRequest(400, 'parsing_exception', `unknown query [${Object.keys(query)[0]}] (this test server knows match_all and term)`);
}
