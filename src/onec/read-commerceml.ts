import fs from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import { ExchangeError } from '../errors.js';
import { entityTypes, type EntityType } from '../messages/entity-types.js';
import { mapCounterparty } from './commerceml-counterparty.js';
import { mapDocument } from './commerceml-document.js';
import { mapProduct, rememberPriceType, type PriceTypes } from './commerceml-products.js';
import { readDecodedText } from './decoded-text.js';
import type { CommerceMlHeader, CommerceMlPackage, OneCRecord } from './one-c-record.js';
import { OneCValueError, defaultOneCTimeZone, parseOneCBoolean, parseOneCVersion } from './one-c-values.js';
import { XmlElementScanner, type Interest, type ScannedElement } from './xml-element-scanner.js';

export interface CommerceMlOptions {
  /** Only these entity types are read (elements of other types are skipped, not parsed). */
  types?: readonly EntityType[];
  /** Called once the root element is read, before any record. */
  onHeader?: (header: CommerceMlHeader) => void;
  /** Called for each package element (Каталог, ПакетПредложений, Контрагенты, …) as it opens. */
  onPackage?: (pkg: CommerceMlPackage) => void;
  /**
   * Price type names by id. prices.xml of CommerceML 3 names no price types (import.xml's Классификатор
   * does): pass the same map to the readers of one exchange's files so later files can name them.
   */
  priceTypes?: PriceTypes;
  /** Bytes read at a time (default 256 KiB); tests use tiny chunks to cut elements at every boundary. */
  chunkSize?: number;
  /** Told the bytes read so far (progress against the file's size). */
  onBytes?: (bytesRead: number) => void;
  /**
   * The IANA zone 1C's zone-less dates are in (config `import.timeZone`, default Europe/Moscow):
   * ДатаФормирования becomes a UTC version and document dates get this zone's offset (see one-c-values.ts).
   */
  timeZone?: string;
}

const ROOT = 'КоммерческаяИнформация';
const PACKAGE_TYPES: Record<string, EntityType | undefined> = {
  Каталог: 'product',
  ПакетПредложений: 'product',
  ИзмененияПакетаПредложений: 'product',
  Контрагенты: 'user',
  Классификатор: undefined,
};

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  // Ids, INNs and account numbers have leading zeros: values stay strings, the mappers type them.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/**
 * Reads a CommerceML file (2.03 to 3.1, any of its namespaces) as a stream of records (DESIGN §9).
 * The file is read in chunks; only the element being mapped (one Товар, Предложение, Контрагент or
 * Документ) is held and parsed at a time. A malformed file throws BAD_INPUT naming file, line, column
 * and element; records already yielded must then be dropped by the caller (nothing from a bad file
 * is published).
 */
export async function* readCommerceMl(file: string, options: CommerceMlOptions = {}): AsyncGenerator<OneCRecord, void, undefined> {
  const wanted = new Set(options.types ?? entityTypes);
  const priceTypes = options.priceTypes ?? new Map();
  const usersSeen = new Set<string>();
  const timeZone = options.timeZone ?? defaultOneCTimeZone;
  const scanner = new XmlElementScanner(file, interestIn(wanted));
  let encoding = 'utf-8';
  let version: string | undefined;

  async function* handle(element: ScannedElement): AsyncGenerator<OneCRecord> {
    if (element.kind === 'open') {
      if (element.path.length === 1) version = await readHeader(file, element, encoding, timeZone, options);
      else
        options.onPackage?.({
          element: element.name,
          type: PACKAGE_TYPES[element.name],
          onlyChanges: parseOneCBoolean(element.attributes['СодержитТолькоИзменения']),
          line: element.line,
        });
      return;
    }
    const source = { file, line: element.line };
    try {
      const node = (parser.parse(element.xml!) as Record<string, Record<string, unknown>>)[element.name];
      const body = typeof node === 'object' && node !== null ? node : {};
      if (element.name === 'ТипЦены') {
        rememberPriceType(body, priceTypes);
      } else if (element.name === 'Товар' || element.name === 'Предложение') {
        const { partial, ...product } = mapProduct(body, element.name, priceTypes);
        yield { type: 'product', ...product, version: version!, ...(partial ? { partial } : {}), source };
      } else if (element.name === 'Контрагент') {
        yield { type: 'user', ...mapCounterparty(body), version: version!, source };
      } else if (element.name === 'Документ') {
        const { counterparties, ...document } = mapDocument(body, timeZone);
        if (wanted.has('user')) {
          for (const counterparty of counterparties) {
            const user = mapCounterparty(counterparty);
            if (usersSeen.has(user.id)) continue; // one user per distinct Контрагент, however many documents name it
            usersSeen.add(user.id);
            yield { type: 'user', ...user, version: version!, source };
          }
        }
        if (wanted.has('mutualsettlements')) yield { type: 'mutualsettlements', ...document, version: version!, source };
      }
    } catch (error) {
      if (!(error instanceof OneCValueError)) throw error;
      throw new ExchangeError('BAD_INPUT', `${file}:${element.line}:${element.column}: ${error.message} in ${element.path.join('/')}`, {
        hint: 'the element does not hold what CommerceML requires; fix or re-export the file; nothing from this file was imported',
      });
    }
  }

  const text = readDecodedText(file, {
    declaredEncoding: xmlDeclaredEncoding,
    onEncoding: (chosen) => (encoding = chosen),
    chunkSize: options.chunkSize,
    onBytes: options.onBytes,
  });
  for await (const chunk of text) {
    for (const element of scanner.push(chunk)) yield* handle(element);
  }
  for (const element of scanner.end()) yield* handle(element);
}

/** Which start tags matter, given the open elements above them; everything else is only walked over. */
function interestIn(wanted: ReadonlySet<EntityType>): (name: string, stack: readonly string[]) => Interest {
  const products = wanted.has('product');
  const documents = wanted.has('mutualsettlements') || wanted.has('user');
  return (name, stack) => {
    const depth = stack.length;
    if (depth === 0) return 'open';
    const parent = stack[depth - 1];
    if (depth === 1) {
      if (name in PACKAGE_TYPES) return 'open';
      if (name === 'Документ' && documents) return 'capture';
      return undefined;
    }
    const grandparent = stack[depth - 2];
    switch (name) {
      case 'Товар':
        return products && parent === 'Товары' && grandparent === 'Каталог' ? 'capture' : undefined;
      case 'Предложение':
        return products && parent === 'Предложения' && (grandparent === 'ПакетПредложений' || grandparent === 'ИзмененияПакетаПредложений') ? 'capture' : undefined;
      case 'ТипЦены':
        return products && parent === 'ТипыЦен' ? 'capture' : undefined;
      case 'Контрагент':
        return wanted.has('user') && parent === 'Контрагенты' && depth === 2 ? 'capture' : undefined;
      case 'Документ':
        return documents && parent === 'Контейнер' && depth === 2 ? 'capture' : undefined;
      default:
        return undefined;
    }
  };
}

async function readHeader(file: string, root: ScannedElement, encoding: string, timeZone: string, options: CommerceMlOptions): Promise<string> {
  const where = `${file}:${root.line}:${root.column}`;
  if (root.name !== ROOT) {
    throw new ExchangeError('BAD_INPUT', `${where}: not a CommerceML file: the root element is <${root.name}>, not <${ROOT}>`, {
      hint: 'give `import` 1C CommerceML (КоммерческаяИнформация), CSV or JSON-lines files',
    });
  }
  const namespace = root.attributes['xmlns'] ?? Object.entries(root.attributes).find(([name]) => name.startsWith('xmlns:') && /commerceml/i.test(root.attributes[name]))?.[1];
  if (namespace && !/^urn:1C\.ru:commerceml(_\w+)?$/i.test(namespace)) {
    throw new ExchangeError('BAD_INPUT', `${where}: unknown CommerceML namespace "${namespace}"`, {
      hint: 'expected none, urn:1C.ru:commerceml_2, urn:1C.ru:commerceml_210 or urn:1C.ru:commerceml_3',
    });
  }
  let version: string | undefined;
  try {
    // Read in import.timeZone, never the process's zone: the same file is the same version everywhere.
    version = parseOneCVersion(root.attributes['ДатаФормирования'], timeZone);
  } catch (error) {
    throw new ExchangeError('BAD_INPUT', `${where}: ДатаФормирования: ${(error as Error).message} in ${ROOT}`, { hint: 'ДатаФормирования must be a date' });
  }
  // Without ДатаФормирования the file's modification time is the best ordering we have: a file
  // exported later from 1C is written later (DESIGN §6 wants versions that order).
  const header: CommerceMlHeader = version
    ? { file, schemaVersion: root.attributes['ВерсияСхемы'], namespace, version, versionFrom: 'ДатаФормирования', encoding }
    : { file, schemaVersion: root.attributes['ВерсияСхемы'], namespace, version: (await fs.promises.stat(file)).mtime.toISOString(), versionFrom: 'mtime', encoding };
  options.onHeader?.(header);
  return header.version;
}

function xmlDeclaredEncoding(head: string): string | undefined {
  return /^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']+)["']/.exec(head)?.[1];
}
