/**
 * Default mapping of CSV headers to entity fields: the column names 1C's standard reports and
 * "Выгрузка в CSV" processing use. Keys are compared case-insensitively, with ё as е and runs of
 * spaces, underscores and dots collapsed, so "ИНН", "Инн" and "инн " are one column. Configuration may
 * pass its own mapping (merged over this one) for exports with other headers.
 * Fields: id, code (also the id when there is no Ид column), version, and the entity fields of DESIGN §6;
 * `price` becomes prices[0] of a product.
 */
export const defaultCsvMapping: Readonly<Record<string, string>> = {
  'ид': 'id',
  'идентификатор': 'id',
  'guid': 'id',
  'id': 'id',
  'код': 'code',
  'наименование': 'name',
  'полное наименование': 'fullName',
  'инн': 'inn',
  'кпп': 'kpp',
  'адрес': 'address',
  'юридический адрес': 'address',
  'телефон': 'phone',
  'email': 'email',
  'e-mail': 'email',
  'почта': 'email',
  'электронная почта': 'email',
  'артикул': 'sku',
  'штрихкод': 'barcode',
  'описание': 'description',
  'единица': 'unit',
  'единица измерения': 'unit',
  'цена': 'price',
  'валюта': 'currency',
  'количество': 'stock',
  'остаток': 'stock',
  'номер': 'number',
  'дата': 'date',
  'контрагент': 'counterpartyId',
  'договор': 'contract',
  'сумма': 'amount',
  'дебет': 'debit',
  'кредит': 'credit',
  'сальдо': 'balance',
  'заказ': 'orderIds',
  'версия': 'version',
  'дата изменения': 'version',
  'датаизменения': 'version',
  'пометка удаления': 'deleted',
};

export function normalizeHeader(header: string): string {
  return header.replace(/^\uFEFF/, '').trim().toLowerCase().replace(/ё/g, 'е').replace(/[\s_.]+/g, ' ');
}
