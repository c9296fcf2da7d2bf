import fs from 'node:fs';
import { ExchangeError } from '../errors.js';
import type { EntityType } from '../messages/entity-types.js';
import type { CommerceMlHeader, CommerceMlPackage, OneCRecord } from '../onec/one-c-record.js';
import type { PriceTypes } from '../onec/commerceml-products.js';
import type { RecordStore, RecordWrite, StoredRecord } from '../recordstore/record-store.js';
import { compareVersions, contentHash, serializeData } from '../recordstore/versioning.js';
import { withEvent, type PlannedWrite } from './change-event.js';
import type { JobContext } from './job-context.js';
import { publishOutbox } from './publish-outbox.js';
import { readRecords } from './record-source.js';
import { journaled } from './run-journal.js';
import { addCounts, emptyCounts, type Counts, type Summary } from './summary.js';

export interface ImportOptions {
  type: EntityType | 'all';
  files: string[];
  /** Delete records of a full package's type that the package no longer holds (DESIGN §9). */
  full: boolean;
  dryRun: boolean;
  batchSize?: number;
  /** Aborted on SIGINT/SIGTERM: the file being read is rolled back whole, earlier files stay (and are published). */
  signal?: AbortSignal;
  /** A dry run says what it would import: the records of each type a file holds, once the file is read whole. */
  onDryRunFile?: (file: string, recordsByType: Map<EntityType, number>) => void;
}

/** The product fields only offers, prices and rests carry: a catalog record never wipes them. */
const offerFields = ['prices', 'stock', 'stockByWarehouse'] as const;

interface FileScan {
  header?: CommerceMlHeader;
  packages: CommerceMlPackage[];
  seen: Map<EntityType, Set<string>>;
  typesRead: Set<EntityType>;
}

/**
 * `exchange import`: 1C files → record store → outbox → RabbitMQ (DESIGN §1, §9). Each file is applied
 * in one store transaction together with its change events, so a file that turns out malformed halfway
 * leaves nothing stored and nothing to publish. Then the outbox is published with confirms.
 */
export async function importFiles(context: JobContext, options: ImportOptions): Promise<Summary> {
  return journaled(context, 'import', async (counts) => {
    const priceTypes: PriceTypes = new Map();
    const store = options.dryRun ? undefined : await context.recordStore();
    try {
      for (const file of options.files) await importFile(context, file, options, priceTypes, store, counts);
    } catch (error) {
      // What earlier files committed is still published when a later file is refused.
      if (store) await publishOutbox(context, store, counts).catch((publishError) => context.reporter.warn(`the outbox stays for the next run: ${(publishError as Error).message}`));
      throw error;
    }
    if (store) {
      await publishOutbox(context, store, counts);
      const pruned = await store.prunePublishedOutbox(new Date(Date.now() - context.config.import.outboxRetentionDays * 86_400_000));
      if (pruned > 0) context.reporter.debug(`outbox: ${pruned} published events older than ${context.config.import.outboxRetentionDays} days deleted`);
    }
  });
}

/** A file whose transaction the store had to roll back for now (deadlock, lost race) is read again this often. */
const fileAttempts = 3;

/**
 * One file, in one store transaction. A transaction that fails for now (STORE_BUSY: a deadlock or a
 * serialization failure on PostgreSQL) is rolled back whole, and the file is read again from its first
 * byte: the records of a stream once read are gone, so a retry never re-runs a transaction on what is left.
 */
async function importFile(context: JobContext, file: string, options: ImportOptions, priceTypes: PriceTypes, store: RecordStore | undefined, counts: Counts): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const fileCounts = emptyCounts();
    try {
      await importFileOnce(context, file, options, priceTypes, store, fileCounts);
      addCounts(counts, fileCounts);
      return;
    } catch (error) {
      if (!(error instanceof ExchangeError && error.code === 'STORE_BUSY') || attempt >= fileAttempts) throw error;
      context.reporter.warn(`${file}: ${error.message}; nothing of it was kept, reading it again (attempt ${attempt + 1} of ${fileAttempts})`);
    }
  }
}

async function importFileOnce(context: JobContext, file: string, options: ImportOptions, priceTypes: PriceTypes, store: RecordStore | undefined, counts: Counts): Promise<void> {
  const scan: FileScan = { packages: [], seen: new Map(), typesRead: new Set() };
  // Progress: bytes read against the file's size where the reader counts them (CommerceML, CSV), else records.
  const size = await fs.promises.stat(file).then((stat) => stat.size, () => null);
  let bytesRead: number | undefined;
  const progress = () => context.reporter.progress(bytesRead === undefined
    ? { label: file, done: counts.read, unit: 'records' }
    : { label: file, done: bytesRead, total: size, unit: 'bytes', detail: `${counts.read} records` });
  const records = await readRecords(file, options.type, { priceTypes, csvMapping: context.config.import.csvMapping, timeZone: context.config.import.timeZone, onHeader: (header) => { scan.header = header; }, onPackage: (pkg) => scan.packages.push(pkg), onBytes: (bytes) => { bytesRead = bytes; } });
  if (!store) {
    const byType = new Map<EntityType, number>();
    for await (const record of records) {
      counts.read++;
      scan.typesRead.add(record.type);
      byType.set(record.type, (byType.get(record.type) ?? 0) + 1);
      if (counts.read % 500 === 0) progress();
    }
    refuseWrongKind(file, options.type, scan);
    options.onDryRunFile?.(file, byType);
  } else {
    await store.transaction(async (tx) => {
      let batch: OneCRecord[] = [];
      for await (const record of records) {
        if (options.signal?.aborted) throw interrupted(file, options.signal);
        counts.read++;
        scan.typesRead.add(record.type);
        if (options.full) setOf(scan.seen, record.type).add(record.id);
        batch.push(record);
        if (batch.length >= (options.batchSize ?? context.config.import.batchSize)) {
          await applyBatch(tx, batch, counts);
          batch = [];
          progress();
        }
      }
      await applyBatch(tx, batch, counts);
      // Decided before anything is deleted, inside the transaction: a file of another kind rolls back whole.
      refuseWrongKind(file, options.type, scan);
      if (options.full) await deleteMissing(tx, scan, options.type, counts);
    });
  }
  context.reporter.progress(null);
  context.reporter.info(`${file}: ${counts.read} records`);
}

/**
 * Upserts a batch with its change events. The stored rows are read under the transaction's row locks, so
 * what a product merges with cannot change before the merge is written (a concurrent import waits).
 */
async function applyBatch(store: RecordStore, batch: OneCRecord[], counts: Counts): Promise<void> {
  if (batch.length === 0) return;
  const stored = new Map<string, StoredRecord>();
  for (const type of new Set(batch.map((r) => r.type))) {
    const ids = [...new Set(batch.filter((r) => r.type === type).map((r) => r.id))];
    for (const [id, record] of await store.getMany(type, ids, { forUpdate: true })) stored.set(`${type}:${id}`, record);
  }
  const writes: RecordWrite[] = [];
  for (const record of batch) {
    const key = `${record.type}:${record.id}`;
    const before = stored.get(key);
    const planned = record.type === 'product' && record.op === 'upsert' ? mergeProduct(record, before) : plainWrite(record, before);
    if (!planned) { counts.stale++; continue; }
    const write = withEvent(planned, before);
    writes.push(write);
    // A later record of the same id in this batch merges onto this one.
    stored.set(key, { type: write.type, id: write.id, version: write.version, hash: contentHash(serializeData(write)), data: write.data, deleted: write.op === 'delete', updatedAt: '', meta: write.meta });
  }
  for (const outcome of await store.writeBatch(writes)) counts[outcome]++;
}

/** Undefined when the stored record is newer (stale); a delete is a version like any other. */
function plainWrite(record: OneCRecord, stored: StoredRecord | undefined): PlannedWrite | undefined {
  if (stored && compareVersions(record.version, stored.version) < 0) return undefined;
  return { type: record.type, id: record.id, version: record.version, op: record.op, data: record.op === 'delete' ? null : record.data };
}

/**
 * 1C sends a product in pieces: the catalog (import.xml) and its offers, prices and rests, in any order
 * and with their own dates. Each piece is versioned on its own (in the store-only `meta`), so an older
 * catalog still lands after newer prices, and neither wipes the other's fields. Returns undefined when
 * the piece is older than the same piece already stored, or not newer than a delete (stale): a piece
 * never revives a product deleted after it was written.
 */
function mergeProduct(record: OneCRecord, stored: StoredRecord | undefined): PlannedWrite | undefined {
  const piece = record.partial ? 'offers' : 'catalog';
  if (stored?.deleted && compareVersions(record.version, stored.version) <= 0) return undefined;
  const pieceVersions = { ...((stored?.meta?.pieceVersions as Record<string, string> | undefined) ?? {}) };
  const previous = pieceVersions[piece];
  if (previous && compareVersions(record.version, previous) < 0) return undefined;
  pieceVersions[piece] = record.version;
  const base = stored && !stored.deleted ? stored.data ?? {} : {};
  let data: Record<string, unknown>;
  if (record.partial) {
    data = { ...base, ...record.data };
  } else {
    data = { ...record.data };
    for (const field of offerFields) if (data[field] === undefined && base[field] !== undefined) data[field] = base[field];
  }
  const version = stored && compareVersions(stored.version, record.version) > 0 ? stored.version : record.version;
  return { type: 'product', id: record.id, version, op: 'upsert', data, meta: { pieceVersions } };
}

/** The packages whose fullness speaks for a whole type: a price list (ПакетПредложений) lists offers, not products. */
const wholeTypePackages = new Set(['Каталог', 'Контрагенты']);

/**
 * `--full` on a full package: what the store holds of its type and the package no longer does is deleted.
 * Variants (`<product>#<characteristic>`) come from offers, not the catalog: they go with their product.
 */
async function deleteMissing(store: RecordStore, scan: FileScan, wanted: EntityType | 'all', counts: Counts): Promise<void> {
  // Only a type this run was asked for and read: a full catalog given as `import user` speaks for no users.
  const fullTypes = new Set(scan.packages
    .filter((pkg) => pkg.onlyChanges === false && pkg.type && wholeTypePackages.has(pkg.element) && (wanted === 'all' || pkg.type === wanted))
    .map((pkg) => pkg.type!));
  const version = scan.header?.version ?? new Date().toISOString();
  for (const type of fullTypes) {
    const seen = scan.seen.get(type) ?? new Set<string>();
    const isMissing = (id: string) => !seen.has(id.split('#')[0]);
    let afterId: string | undefined;
    for (;;) {
      const page = await store.list(type, { limit: 1000, afterId });
      if (page.length === 0) break;
      afterId = page[page.length - 1].id;
      const deletes: RecordWrite[] = page
        .filter((record) => !record.deleted && isMissing(record.id))
        .map((record) => withEvent({ type, id: record.id, version, op: 'delete', data: null }, record));
      if (deletes.length > 0) for (const outcome of await store.writeBatch(deletes)) counts[outcome]++;
    }
  }
}

function refuseWrongKind(file: string, type: EntityType | 'all', scan: FileScan): void {
  if (type === 'all' || scan.typesRead.has(type)) return;
  const holds = [...new Set(scan.packages.map((pkg) => pkg.type).filter(Boolean))];
  if (holds.length === 0) return;
  throw new ExchangeError('BAD_INPUT', `${file}: holds ${holds.join(' and ')} data, no ${type} records`, {
    hint: `import it with \`exchange import ${holds[0]} ${file}\` or \`exchange import all ${file}\``,
  });
}

function interrupted(file: string, signal: AbortSignal): ExchangeError {
  return new ExchangeError('INTERRUPTED', `${String(signal.reason ?? 'a signal')} received: ${file} was rolled back, nothing of it was stored or published`, {
    hint: 'run the import again: files before it were kept and published',
  });
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
