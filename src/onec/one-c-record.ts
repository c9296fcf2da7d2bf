import type { EntityType } from '../messages/entity-types.js';

/**
 * One record read from a 1C file: what becomes an envelope {type, op, id, version, source: '1c', data}
 * (DESIGN §6) once the importer wraps it. `partial` marks a record that carries only some fields (an
 * offer's prices and stock, a variant seen in a price list): the importer merges it into the stored
 * record instead of replacing it, so the order in which 1C's split packages arrive never loses a field.
 */
export interface OneCRecord {
  type: EntityType;
  id: string;
  op: 'upsert' | 'delete';
  version: string;
  data: Record<string, unknown>;
  partial?: boolean;
  source: { file: string; line: number };
}

/** The root attributes of a CommerceML file. */
export interface CommerceMlHeader {
  file: string;
  schemaVersion?: string;
  namespace?: string;
  /** ДатаФормирования as ISO, or the file's mtime when 1C left it out (then `versionFrom` says so). */
  version: string;
  versionFrom: 'ДатаФормирования' | 'mtime';
  encoding: string;
}

/**
 * A package inside the file (Каталог, ПакетПредложений, ИзмененияПакетаПредложений, Контрагенты,
 * Классификатор). `onlyChanges: false` is a full package: with `--full` the importer deletes records
 * of `type` that the package did not mention (DESIGN §9); undefined means 1C did not say.
 */
export interface CommerceMlPackage {
  element: string;
  type?: EntityType;
  onlyChanges?: boolean;
  line: number;
}
