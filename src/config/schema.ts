import { z } from 'zod';
import { entityTypes, isBusinessType } from '../messages/entity-types.js';
import { defaultOneCTimeZone, isKnownTimeZone } from '../onec/one-c-values.js';
import { parseSchedule } from '../sync/schedule.js';

/**
 * The configuration contract (DESIGN §4). Strict objects everywhere: an unknown key is an error,
 * because a misspelt key that is silently ignored is how a cron job quietly does the wrong thing.
 */
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
export const sinkNames = ['records', 'crm', 'elasticsearch'] as const;
export type SinkName = (typeof sinkNames)[number];

const amqpUrl = z.string().regex(/^amqps?:\/\//, 'must start with amqp:// or amqps://');

const amqpSchema = z.strictObject({
  url: amqpUrl.default('amqp://guest:guest@127.0.0.1:5672'),
  /**
   * The nodes of a cluster, tried in this order (each within connectTimeoutMs): the first that answers is used.
   * When given, `url` becomes its first entry, so that everything that names "the broker" names the same node.
   */
  urls: z.array(amqpUrl).min(1, 'list at least one amqp:// URL').optional(),
  connectTimeoutMs: positiveInt.default(8000),
  heartbeatSeconds: nonNegativeInt.default(30),
  queueType: z.enum(['quorum', 'classic']).default('quorum'),
  prefetch: positiveInt.max(65535).default(500),
  retryDelayMs: positiveInt.default(30000),
  maxAttempts: positiveInt.default(5),
  confirmTimeoutMs: positiveInt.default(30000),
  /** The management plugin's HTTP API (http://user:password@host:15672): `status` reads unacked counts from it. */
  managementUrl: z.string().url().optional(),
  /**
   * x-quorum-initial-group-size of the quorum queues `setup` creates: how many nodes hold each queue (the
   * broker's default is every node, up to its own limit). It only applies when a queue is created, so an
   * existing queue created with another value is accepted as it is.
   */
  quorumInitialGroupSize: positiveInt.optional(),
}).transform((amqp) => (amqp.urls ? { ...amqp, url: amqp.urls[0] } : amqp));

const recordStoreSchema = z.strictObject({
  url: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must be sqlite:<path> or postgres://…').default('sqlite:./exchange.db'),
  /** SQLite's PRAGMA synchronous in WAL mode: full (a commit survives power loss) or normal (faster, may lose the last commits). */
  sqliteSynchronous: z.enum(['full', 'normal']).default('full'),
});

const drainSchema = z.strictObject({
  limit: nonNegativeInt.default(0),
  batchSize: positiveInt.max(10000).default(200),
  idleMs: positiveInt.default(1000),
  lockAtMostForMs: positiveInt.default(15 * 60 * 1000),
});

const routesSchema = z.strictObject(
  Object.fromEntries(entityTypes.map((type) => [type, z.array(z.enum(sinkNames)).min(1).default(['records'])])) as {
    [K in (typeof entityTypes)[number]]: z.ZodDefault<z.ZodArray<z.ZodEnum<{ [S in SinkName]: S }>>>;
  },
).superRefine((routes, ctx) => {
  // Rates and EDI events (from syncs) have no CRM or search mapping: only the record store takes them.
  for (const type of entityTypes) {
    if (isBusinessType(type)) continue;
    for (const sink of routes[type]) {
      if (sink !== 'records') ctx.addIssue({ code: 'custom', path: [type], message: `the ${sink} sink takes user, product and mutualsettlements only; ${type} goes to records` });
    }
  }
});

/** Words `exchange sync` takes as subcommands: a sync of that name could never be run by name. */
export const reservedSyncNames = ['list', 'status', 'enable', 'disable', 'reset'] as const;

/**
 * One synchronization (DESIGN §10). `settings` is checked by the provider's own schema when the config is
 * loaded (src/sync/sync-config.ts): this schema does not know the providers.
 */
const syncSchema = z.strictObject({
  provider: z.string().min(1),
  enabled: z.boolean().default(true),
  schedule: z.string().superRefine((text, ctx) => {
    const parsed = parseSchedule(text);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
  }),
  /** Longest the sync holds its lock `sync:<name>` if the process dies (renewed while it runs). */
  lockAtMostForMs: positiveInt.default(15 * 60 * 1000),
  settings: z.record(z.string(), z.unknown()).default({}),
});
export type SyncConfig = z.infer<typeof syncSchema>;

const syncsSchema = z.record(z.string(), syncSchema).superRefine((syncs, ctx) => {
  for (const name of Object.keys(syncs)) {
    if ((reservedSyncNames as readonly string[]).includes(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is a word of the sync command (${reservedSyncNames.join(', ')}): name the sync otherwise` });
    } else if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'a sync name takes letters, digits, ., - and _ only' });
    }
  }
});

const crmSchema = z.strictObject({
  webhookUrl: z.string().url().optional(),
  requestsPerSecond: z.number().positive().default(2),
  burst: positiveInt.default(50),
  timeoutMs: positiveInt.default(30000),
  /** crm.requisite.preset.list: the requisite template (1 is "Организация" on a new portal). */
  requisitePresetId: positiveInt.default(1),
  /** catalog.catalog.list: the trading catalog's iblock; required when products are routed to crm. */
  productIblockId: positiveInt.optional(),
  /** catalog.priceType.list: the Bitrix24 price type the base price is written to. */
  priceTypeId: positiveInt.default(1),
  /** Which 1C price (its typeId or type name) is the base price; the first price when absent. */
  basePriceType: z.string().optional(),
  defaultCurrency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as RUB').default('RUB'),
  /** Deal funnel (CATEGORY_ID) of mutual-settlement deals and of order deals; the general funnel when absent. */
  dealCategoryId: nonNegativeInt.optional(),
  orderCategoryId: nonNegativeInt.optional(),
  orderTitlePrefix: z.string().default('Заказ '),
  /** Field-by-field overrides of the mappings: CRM field → envelope path (`data.name`), `=constant`, or null to leave out. */
  fields: z.strictObject({
    company: z.record(z.string(), z.string().nullable()).optional(),
    requisite: z.record(z.string(), z.string().nullable()).optional(),
    product: z.record(z.string(), z.string().nullable()).optional(),
    deal: z.record(z.string(), z.string().nullable()).optional(),
  }).prefault({}),
});

const elasticsearchSchema = z.strictObject({
  node: z.string().url().optional(),
  apiKey: z.string().optional(),
  // A self-managed cluster's self-signed certificate is pinned by its SHA-256 fingerprint.
  caFingerprint: z.string().optional(),
  // Elasticsearch refuses upper case and a leading - _ + in index names; the tenant prefix is lowered to match.
  index: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ., - and _ only').default('products'),
  shards: positiveInt.default(1),
  replicas: nonNegativeInt.default(1),
  timeoutMs: positiveInt.default(30000),
  /**
   * `index.gc_deletes` of the index versions `setup` creates: how long a delete's versioned tombstone refuses
   * older upserts (Elasticsearch keeps it 60 s by default). A message parked in the dlq and replayed later than
   * this can bring a deleted product back, so it should outlast the time a message may wait in the dlq.
   */
  gcDeletes: z.string().regex(/^\d+(ms|s|m|h|d)$/, 'an Elasticsearch time value such as 7d, 12h or 60s').default('7d'),
});

const importSchema = z.strictObject({
  /** CSV header → entity field, merged over the usual Russian 1C headers (src/onec/csv-mapping.ts). */
  csvMapping: z.record(z.string(), z.string()).default({}),
  /** Records per store transaction step while a file is imported (the file commits as a whole). */
  batchSize: positiveInt.max(10000).default(500),
  /** Published change events are kept this long (for `exchange status` and forensics), then deleted. */
  outboxRetentionDays: nonNegativeInt.default(7),
  /** The IANA zone 1C writes its zone-less dates in: they are read in it, never in the process's TZ (DESIGN §12). */
  timeZone: z.string().refine(isKnownTimeZone, 'not a time zone this Node knows: use an IANA name such as Europe/Moscow').default(defaultOneCTimeZone),
});

const statusSchema = z.strictObject({
  /** `exchange status` exits 1 when a pending outbox event has waited longer than this (flag --max-outbox-age). */
  maxOutboxAgeSeconds: nonNegativeInt.default(300),
});

export const configSchema = z.strictObject({
  tenant: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'letters, digits, - and _ only').optional(),
  amqp: amqpSchema.prefault({}),
  recordStore: recordStoreSchema.prefault({}),
  drain: drainSchema.prefault({}),
  import: importSchema.prefault({}),
  routes: routesSchema.prefault({}),
  crm: crmSchema.prefault({}),
  elasticsearch: elasticsearchSchema.prefault({}),
  syncs: syncsSchema.default({}),
  status: statusSchema.prefault({}),
});

export type ExchangeConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
