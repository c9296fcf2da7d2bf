import { OneCValueError, compact, list, parseOneCBoolean, parseOneCDate, parseOneCNumber, text } from './one-c-values.js';

type Node = Record<string, unknown>;

/** ЗначенияРеквизитов names under which 1C and site modules name the orders a document is based on. */
const ORDER_REQUISITES = new Set(['заказ', 'номер заказа', 'заказ покупателя', 'ид заказа', 'идзаказа', 'основание']);
const CONTRACT_REQUISITES = new Set(['договор', 'договор контрагента', 'номер договора']);

/**
 * Maps a Документ to a mutualsettlements record (DESIGN §6, §9). Its counterparties are returned too:
 * they become user records, so a CRM deal always finds its company. `timeZone` (import.timeZone) places the
 * document's zone-less Дата/Время: the date carries that zone's offset, so it names one instant.
 */
export function mapDocument(node: Node, timeZone?: string): {
  id: string;
  op: 'upsert' | 'delete';
  data: Record<string, unknown>;
  counterparties: Node[];
} {
  const id = text(node['Ид']);
  if (!id) throw new OneCValueError('<Документ> without <Ид>');
  const counterparties = list<Node>(list<Node>(node['Контрагенты'])[0]?.['Контрагент']);
  const requisites = list<Node>(list<Node>(node['ЗначенияРеквизитов'])[0]?.['ЗначениеРеквизита']).map((r) => ({
    name: (text(r['Наименование']) ?? '').toLowerCase(),
    value: text(r['Значение']),
  }));
  const requisite = (names: Set<string>) => requisites.filter((r) => names.has(r.name) && r.value).map((r) => r.value as string);
  const orderIds = [...list(node['Основание']).map(text), ...requisite(ORDER_REQUISITES)].filter((v): v is string => v !== undefined);
  const lines = list<Node>(list<Node>(node['Товары'])[0]?.['Товар']).map((line) =>
    compact({
      productId: text(line['Ид']),
      name: text(line['Наименование']),
      quantity: parseOneCNumber(text(line['Количество'])),
      price: parseOneCNumber(text(line['ЦенаЗаЕдиницу']) ?? text(line['Цена'])),
      amount: parseOneCNumber(text(line['Сумма'])),
      unit: text(line['БазоваяЕдиница']) ?? text(list<Node>(line['Единица'])[0]?.['НаименованиеКраткое']),
    }),
  );
  const deleted =
    parseOneCBoolean(text(node['ПометкаУдаления'])) === true || requisites.some((r) => r.name === 'пометкаудаления' && r.value === 'true');
  const data = compact({
    number: text(node['Номер']),
    date: parseOneCDate(text(node['Дата']), text(node['Время']), timeZone),
    operation: text(node['ХозОперация']),
    counterpartyId: text(counterparties[0]?.['Ид']),
    contract: text(node['Договор']) ?? requisite(CONTRACT_REQUISITES)[0],
    currency: text(node['Валюта']),
    amount: parseOneCNumber(text(node['Сумма'])),
    orderIds: orderIds.length ? [...new Set(orderIds)] : undefined,
    lines: lines.length ? lines : undefined,
    comment: text(node['Комментарий']),
    versionNumber: text(node['НомерВерсии']),
    deleted: deleted || undefined,
  });
  return { id, op: deleted ? 'delete' : 'upsert', data, counterparties };
}
