import { OneCValueError, compact, list, parseOneCBoolean, parseOneCNumber, text } from './one-c-values.js';

type Node = Record<string, unknown>;

export interface MappedProduct {
  id: string;
  op: 'upsert' | 'delete';
  data: Record<string, unknown>;
  partial: boolean;
}

/** Price type names by ИдТипаЦены, from ТипыЦен; one map can be shared by the files of one exchange. */
export type PriceTypes = Map<string, { name?: string; currency?: string }>;

/**
 * Maps a Каталог/Товары/Товар or a Предложение to a product record (DESIGN §9). A catalog item is the
 * whole product. An offer only adds to one: without `#` it carries the prices and stock of the product
 * with that id; `<productId>#<characteristicId>` is a variant with its own record, parentId and
 * characteristics. Either way an offer leaves out what it does not state, and is marked partial.
 */
export function mapProduct(node: Node, kind: 'Товар' | 'Предложение', priceTypes: PriceTypes): MappedProduct {
  const id = text(node['Ид']);
  if (!id) throw new OneCValueError(`<${kind}> without <Ид>`);
  const hash = id.indexOf('#');
  const deleted = parseOneCBoolean(text(node['ПометкаУдаления'])) === true || node['@Статус'] === 'Удален';
  const characteristics = list(list<Node>(node['ХарактеристикиТовара'])[0]?.['ХарактеристикаТовара']).map((c) => ({
    name: text(c['Наименование']) ?? '',
    value: text(c['Значение']) ?? '',
  }));
  const groupIds = list(list<Node>(node['Группы'])[0]?.['Ид']).map(text).filter((g): g is string => g !== undefined);
  const offer = kind === 'Предложение';
  const data = compact({
    name: text(node['Наименование']),
    sku: text(node['Артикул']),
    description: text(node['Описание']),
    groupIds: groupIds.length ? groupIds : undefined,
    unit: unitOf(node['БазоваяЕдиница']),
    barcode: text(node['Штрихкод']),
    prices: pricesOf(node, priceTypes),
    ...stockOf(node),
    properties: propertiesOf(node),
    characteristics: characteristics.length ? characteristics : undefined,
    parentId: hash > 0 ? id.slice(0, hash) : undefined,
    versionNumber: text(node['НомерВерсии']),
    // A catalog item states whether it is deleted; an offer's silence must not undelete its product.
    deleted: offer ? (deleted || undefined) : deleted,
  });
  // A price list dropping an offer is not the catalog dropping the product: only a variant, which
  // exists through its offer alone, is deleted by its offer's mark.
  const op = deleted && (!offer || hash > 0) ? 'delete' : 'upsert';
  return { id, op, data, partial: offer };
}

function unitOf(node: unknown): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node !== 'object' || node === null) return text(node);
  const unit = node as Node;
  return text(unit['@НаименованиеПолное']) ?? text(unit['#text']) ?? text(unit['@Код']) ?? text(list<Node>(unit['Пересчет'])[0]?.['Единица']);
}

function pricesOf(node: Node, priceTypes: PriceTypes) {
  const prices = list<Node>(list<Node>(node['Цены'])[0]?.['Цена']).map((price) => {
    const typeId = text(price['ИдТипаЦены']);
    const type = typeId === undefined ? undefined : priceTypes.get(typeId);
    const value = parseOneCNumber(text(price['ЦенаЗаЕдиницу']));
    if (value === undefined) throw new OneCValueError(`<Цена> without <ЦенаЗаЕдиницу>${typeId ? ` (price type ${typeId})` : ''}`);
    return compact({
      typeId: typeId ?? null,
      type: type?.name ?? null,
      value,
      currency: text(price['Валюта']) ?? type?.currency ?? null,
      unit: text(price['Единица']),
    });
  });
  return prices.length ? prices : undefined;
}

/**
 * Stock comes in three shapes: <Количество> on the offer (2.0x offers.xml), <Остатки><Остаток> with a
 * <Склад><Ид/><Количество/></Склад> or a bare <Количество> (rests.xml of 2.09 and 3.1), and
 * <Склад ИдСклада КоличествоНаСкладе/> attributes (2.07). The total goes to `stock`; per-warehouse
 * figures, when given, to `stockByWarehouse`.
 */
function stockOf(node: Node): { stock?: number; stockByWarehouse?: { warehouseId: string; quantity: number }[] } {
  const warehouses: { warehouseId: string; quantity: number }[] = [];
  let restsTotal: number | undefined;
  for (const rest of list<Node>(list<Node>(node['Остатки'])[0]?.['Остаток'])) {
    const stores = list<Node>(rest['Склад']);
    const entries = stores.length ? stores.map((s) => ({ id: text(s['Ид']), quantity: text(s['Количество']) })) : [{ id: undefined, quantity: text(rest['Количество']) }];
    for (const entry of entries) {
      const quantity = parseOneCNumber(entry.quantity);
      if (quantity === undefined) continue;
      restsTotal = (restsTotal ?? 0) + quantity;
      if (entry.id) warehouses.push({ warehouseId: entry.id, quantity });
    }
  }
  let attributeTotal: number | undefined;
  for (const store of list<Node>(node['Склад'])) {
    const quantity = parseOneCNumber(text(store['@КоличествоНаСкладе']));
    if (quantity === undefined) continue;
    attributeTotal = (attributeTotal ?? 0) + quantity;
    const warehouseId = text(store['@ИдСклада']);
    if (warehouseId) warehouses.push({ warehouseId, quantity });
  }
  const stock = parseOneCNumber(text(node['Количество'])) ?? restsTotal ?? attributeTotal;
  return compact({ stock, stockByWarehouse: warehouses.length ? warehouses : undefined });
}

/** ЗначенияСвойств by property id (stable across renames), or by name when 1C gives no id. */
function propertiesOf(node: Node): Record<string, string | string[]> | undefined {
  const properties: Record<string, string | string[]> = {};
  for (const property of list<Node>(list<Node>(node['ЗначенияСвойств'])[0]?.['ЗначенияСвойства'])) {
    const key = text(property['Ид']) ?? text(property['Наименование']);
    if (!key) continue;
    const values = list(property['Значение']).map(text).filter((v): v is string => v !== undefined);
    if (values.length) properties[key] = values.length === 1 ? values[0] : values;
  }
  return Object.keys(properties).length ? properties : undefined;
}

/** ТипыЦен/ТипЦены: remembered so that offers can name their price types. */
export function rememberPriceType(node: Node, priceTypes: PriceTypes): void {
  const id = text(node['Ид']);
  if (id) priceTypes.set(id, { name: text(node['Наименование']), currency: text(node['Валюта']) });
}
