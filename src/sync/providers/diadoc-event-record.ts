import { ExchangeError } from '../../errors.js';
import type { SyncRecord } from '../sync-provider.js';
import type { BoxEvent } from './diadoc-client.js';

/** .NET ticks (100 ns since 0001-01-01, UTC) at the Unix epoch. */
const epochTicks = 621_355_968_000_000_000n;

type Json = Record<string, unknown>;

/**
 * One BoxEvent → one `edi-event` record. A box only ever grows (docs, "Лента событий"): an event is never
 * changed or removed, so every record is an upsert. Its version is the event's time in ticks, exact and
 * zero-padded (a counter that orders, DESIGN §6): for a new message that is the later of its creation and its
 * last patch, because Diadoc serves a message with the entities of its later patches folded in, so reading
 * the same event again after a reset can bring more content, and that must be a newer version.
 */
export function eventRecord(event: BoxEvent, boxId: string): SyncRecord {
  const message = event.Message;
  const patch = event.Patch;
  const body = message ?? patch;
  if (!event.EventId || !body) {
    throw new ExchangeError('SOURCE_UNAVAILABLE', `Diadoc sent an event without EventId, Message or Patch (IndexKey ${event.IndexKey ?? 'none'})`);
  }
  const created = ticks(body.TimestampTicks);
  const lastPatch = message ? ticks(message.LastPatchTimestampTicks) : undefined;
  const newest = lastPatch !== undefined && created !== undefined && lastPatch > created ? lastPatch : created;
  if (newest === undefined) {
    throw new ExchangeError('SOURCE_UNAVAILABLE', `Diadoc sent event ${event.EventId} without TimestampTicks`);
  }

  const entities = array(body.Entities).map(entityOf);
  const documentIds = unique([
    ...entities.map((entity) => (entity.entityType === 'Attachment' && !entity.parentEntityId ? entity.entityId : entity.parentEntityId)),
    ...array(patch?.EntityPatches).map((entityPatch) => text(entityPatch.EntityId)),
  ]);
  const documentTypes = unique(entities.map((entity) => entity.typeNamedId ?? (entity.entityType === 'Attachment' && !entity.parentEntityId ? entity.attachmentType : undefined)));

  return {
    type: 'edi-event',
    id: event.EventId,
    op: 'upsert',
    version: newest.toString().padStart(19, '0'),
    data: {
      boxId,
      eventId: event.EventId,
      indexKey: event.IndexKey ?? null,
      kind: message ? 'message' : 'patch',
      messageId: text(body.MessageId) ?? null,
      patchId: text(patch?.PatchId) ?? null,
      messageType: text(body.MessageType) ?? null,
      timestamp: iso(created),
      lastPatchTimestamp: lastPatch === undefined ? null : iso(lastPatch),
      fromBoxId: text(message?.FromBoxId) ?? null,
      fromTitle: text(message?.FromTitle) ?? null,
      toBoxId: text(message?.ToBoxId) ?? null,
      toTitle: text(message?.ToTitle) ?? null,
      counteragentBoxId: counteragentOf(message, entities, boxId),
      deleted: Boolean(message?.IsDeleted ?? patch?.MessageIsDeleted ?? false),
      documentIds,
      documentTypes,
      entities,
      entityPatches: array(patch?.EntityPatches).map((entityPatch) => ({
        entityId: text(entityPatch.EntityId) ?? null,
        documentIsDeleted: Boolean(entityPatch.DocumentIsDeleted ?? false),
        documentIsRestored: Boolean(entityPatch.DocumentIsRestored ?? false),
        movedToDepartment: text(entityPatch.MovedToDepartment) ?? null,
        forwardedToBoxId: text(entityPatch.ForwardedToBoxId) ?? null,
      })),
    },
  };
}

interface EntityData {
  entityId: string;
  entityType: string;
  attachmentType?: string;
  parentEntityId?: string;
  fileName?: string;
  createdAt?: string;
  signerBoxId?: string;
  typeNamedId?: string;
  function?: string;
  title?: string;
  documentNumber?: string;
  documentDate?: string;
  direction?: string;
  counteragentBoxId?: string;
  [key: string]: unknown;
}

function entityOf(entity: Json): EntityData {
  const document = (entity.DocumentInfo ?? undefined) as Json | undefined;
  const created = ticks(entity.RawCreationDate);
  const data: EntityData = {
    entityId: text(entity.EntityId) ?? '',
    // EntityType defaults to UnknownEntityType, which the proto says to treat as an attachment.
    entityType: text(entity.EntityType) ?? 'Attachment',
    attachmentType: text(entity.AttachmentType),
    parentEntityId: text(entity.ParentEntityId),
    fileName: text(entity.FileName),
    createdAt: created === undefined || created === 0n ? undefined : iso(created) ?? undefined,
    signerBoxId: text(entity.SignerBoxId),
  };
  if (document) {
    data.typeNamedId = text(document.TypeNamedId);
    data.function = text(document.Function);
    data.title = text(document.Title);
    data.documentNumber = text(document.DocumentNumber);
    data.documentDate = text(document.DocumentDate);
    data.direction = text(document.DocumentDirection);
    data.counteragentBoxId = text(document.CounteragentBoxId);
  }
  // Absent fields stay out rather than null: the record is what Diadoc said, no more.
  for (const key of Object.keys(data)) if (data[key] === undefined) delete data[key];
  return data;
}

/** The other side: a document's own CounteragentBoxId, else whichever of From/To is not our box. */
function counteragentOf(message: Json | undefined, entities: EntityData[], boxId: string): string | null {
  const fromDocument = entities.find((entity) => entity.counteragentBoxId)?.counteragentBoxId;
  if (fromDocument) return fromDocument;
  if (!message) return null;
  const from = text(message.FromBoxId);
  const to = text(message.ToBoxId);
  if (from && sameBox(from, boxId)) return to ?? null;
  return from ?? null;
}

/** Box ids come as GUIDs with or without dashes, or in the older `<hex>@diadoc.ru` form. */
function sameBox(a: string, b: string): boolean {
  const norm = (id: string) => id.toLowerCase().replace(/@diadoc\.ru$/, '').replace(/-/g, '');
  return norm(a) === norm(b);
}

function ticks(value: unknown): bigint | undefined {
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return undefined;
}

function iso(value: bigint | undefined): string | null {
  if (value === undefined) return null;
  return new Date(Number((value - epochTicks) / 10_000n)).toISOString();
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function array(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function unique(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((value): value is string => Boolean(value)))];
}
