import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExchangeError } from '../../../src/errors.js';
import type { EntityType } from '../../../src/messages/entity-types.js';
import type { CommerceMlHeader, CommerceMlPackage, OneCRecord } from '../../../src/onec/one-c-record.js';
import { readCommerceMl } from '../../../src/onec/read-commerceml.js';

/*
 * Small CommerceML files written here, element by element, so that each expected value is one the file states.
 * Everything goes through readCommerceMl, the readers' public entry point.
 */
let tmp: string;
let counter = 0;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onec-mapping-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ROOT_ATTRIBUTES = 'ВерсияСхемы="2.08" ДатаФормирования="2024-01-15T12:00:00"';

function cml(body: string, rootAttributes = ROOT_ATTRIBUTES, prolog = '<?xml version="1.0" encoding="UTF-8"?>\n'): string {
  const file = path.join(tmp, `f${counter++}.xml`);
  fs.writeFileSync(file, `${prolog}<КоммерческаяИнформация ${rootAttributes}>\n${body}\n</КоммерческаяИнформация>\n`);
  return file;
}

async function read(file: string, types?: EntityType[]) {
  const records: OneCRecord[] = [];
  const packages: CommerceMlPackage[] = [];
  let header: CommerceMlHeader | undefined;
  for await (const record of readCommerceMl(file, { types, onHeader: (h) => (header = h), onPackage: (p) => packages.push(p) })) records.push(record);
  return { records, packages, header: header!, data: (id: string) => records.find((r) => r.id === id)?.data };
}

/** line:column where `needle` first appears in the file as written (the reader reports element starts so). */
function where(file: string, needle: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const before = text.slice(0, text.indexOf(needle)).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}
const lineOf = (file: string, needle: string) => Number(where(file, needle).split(':')[0]);

async function readError(file: string): Promise<ExchangeError> {
  try {
    for await (const _ of readCommerceMl(file)) void _;
  } catch (error) {
    expect(error).toBeInstanceOf(ExchangeError);
    return error as ExchangeError;
  }
  throw new Error('read without error');
}

const catalog = (...items: string[]) => `<Каталог СодержитТолькоИзменения="false"><Товары>${items.join('\n')}</Товары></Каталог>`;
const offers = (...items: string[]) => `<ПакетПредложений><Предложения>${items.join('\n')}</Предложения></ПакетПредложений>`;

describe('CommerceML catalog items (Каталог/Товары/Товар)', () => {
  it('maps every field a Товар states', async () => {
    const file = cml(catalog(`<Товар>
      <Ид>p1</Ид><НомерВерсии>AAAAAQ==</НомерВерсии><ПометкаУдаления>false</ПометкаУдаления>
      <Артикул>A-1</Артикул><Наименование>Стол</Наименование><Описание>Дуб, 120 см</Описание><Штрихкод>4600000000017</Штрихкод>
      <БазоваяЕдиница Код="796" НаименованиеПолное="Штука">шт</БазоваяЕдиница>
      <Группы><Ид>g1</Ид><Ид>g2</Ид></Группы>
      <ЗначенияСвойств>
        <ЗначенияСвойства><Ид>color</Ид><Значение>красный</Значение></ЗначенияСвойства>
        <ЗначенияСвойства><Наименование>Материал</Наименование><Значение>дуб</Значение><Значение>бук</Значение></ЗначенияСвойства>
        <ЗначенияСвойства><Ид>empty</Ид><Значение></Значение></ЗначенияСвойства>
        <ЗначенияСвойства><Значение>без имени</Значение></ЗначенияСвойства>
      </ЗначенияСвойств>
      <ХарактеристикиТовара><ХарактеристикаТовара><Наименование>Размер</Наименование><Значение>XL</Значение></ХарактеристикаТовара><ХарактеристикаТовара><Наименование>Цвет</Наименование></ХарактеристикаТовара></ХарактеристикиТовара>
    </Товар>`));
    const { records } = await read(file);
    expect(records).toEqual([
      {
        type: 'product',
        id: 'p1',
        op: 'upsert',
        version: '2024-01-15T09:00:00.000Z',
        source: { file, line: lineOf(file, '<Товар>') },
        data: {
          name: 'Стол',
          sku: 'A-1',
          description: 'Дуб, 120 см',
          groupIds: ['g1', 'g2'],
          unit: 'Штука',
          barcode: '4600000000017',
          properties: { color: 'красный', Материал: ['дуб', 'бук'] },
          characteristics: [{ name: 'Размер', value: 'XL' }, { name: 'Цвет', value: '' }],
          versionNumber: 'AAAAAQ==',
          deleted: false,
        },
      },
    ]);
  });

  it('leaves out what a Товар does not state', async () => {
    const { records } = await read(cml(catalog('<Товар><Ид>p2</Ид><Группы/><ЗначенияСвойств/><ХарактеристикиТовара/></Товар>')));
    expect(records.map((r) => [r.id, r.op, r.data, r.partial])).toEqual([['p2', 'upsert', { deleted: false }, undefined]]);
  });

  it('reads the unit from its full name, its text, its code, or its conversion, in that order', async () => {
    const { data } = await read(cml(catalog(
      '<Товар><Ид>u1</Ид><БазоваяЕдиница>кг</БазоваяЕдиница></Товар>',
      '<Товар><Ид>u2</Ид><БазоваяЕдиница Код="796">шт</БазоваяЕдиница></Товар>',
      '<Товар><Ид>u3</Ид><БазоваяЕдиница Код="796"/></Товар>',
      '<Товар><Ид>u4</Ид><БазоваяЕдиница><Пересчет><Единица>упак</Единица><Коэффициент>10</Коэффициент></Пересчет></БазоваяЕдиница></Товар>',
    )));
    expect([data('u1')?.unit, data('u2')?.unit, data('u3')?.unit, data('u4')?.unit]).toEqual(['кг', 'шт', '796', 'упак']);
  });

  it('deletes an item marked for deletion or with Статус="Удален"', async () => {
    const { records } = await read(cml(catalog(
      '<Товар><Ид>d1</Ид><Наименование>A</Наименование><ПометкаУдаления>true</ПометкаУдаления></Товар>',
      '<Товар Статус="Удален"><Ид>d2</Ид><Наименование>B</Наименование></Товар>',
      '<Товар Статус="Новый"><Ид>d3</Ид><Наименование>C</Наименование></Товар>',
    )));
    expect(records.map((r) => [r.id, r.op, r.data.deleted])).toEqual([['d1', 'delete', true], ['d2', 'delete', true], ['d3', 'upsert', false]]);
  });

  it('reads a Товар only under Каталог/Товары, and refuses one without an Ид at its element', async () => {
    const stray = await read(cml('<Классификатор><Товары><Товар><Ид>x</Ид></Товар></Товары></Классификатор><Каталог><Товар><Ид>y</Ид></Товар></Каталог>'));
    expect(stray.records).toEqual([]);
    const file = cml(catalog('<Товар><Наименование>без Ид</Наименование></Товар>'));
    const error = await readError(file);
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toBe(`${file}:${where(file, '<Товар>')}: <Товар> without <Ид> in КоммерческаяИнформация/Каталог/Товары/Товар`);
    expect(error.hint).toBe('the element does not hold what CommerceML requires; fix or re-export the file; nothing from this file was imported');
  });
});

describe('CommerceML offers (Предложение): prices, stock, variants', () => {
  const priceTypes = '<ТипыЦен><ТипЦены><Ид>t1</Ид><Наименование>Розничная</Наименование><Валюта>USD</Валюта></ТипЦены><ТипЦены><Наименование>без Ид</Наименование></ТипЦены></ТипыЦен>';

  it('names price types defined in the package, takes a price\'s own currency first, and marks offers partial', async () => {
    const file = cml(`<ПакетПредложений>${priceTypes}<Предложения>
      <Предложение><Ид>p1</Ид><Цены>
        <Цена><ИдТипаЦены>t1</ИдТипаЦены><ЦенаЗаЕдиницу>1 234,50</ЦенаЗаЕдиницу><Валюта>RUB</Валюта><Единица>шт</Единица></Цена>
        <Цена><ИдТипаЦены>t1</ИдТипаЦены><ЦенаЗаЕдиницу>10</ЦенаЗаЕдиницу></Цена>
        <Цена><ИдТипаЦены>t9</ИдТипаЦены><ЦенаЗаЕдиницу>11</ЦенаЗаЕдиницу></Цена>
        <Цена><ЦенаЗаЕдиницу>12</ЦенаЗаЕдиницу></Цена>
      </Цены></Предложение>
    </Предложения></ПакетПредложений>`);
    const { records } = await read(file);
    expect(records).toEqual([
      {
        type: 'product', id: 'p1', op: 'upsert', version: '2024-01-15T09:00:00.000Z', partial: true, source: { file, line: lineOf(file, '<Предложение>') },
        data: {
          prices: [
            { typeId: 't1', type: 'Розничная', value: 1234.5, currency: 'RUB', unit: 'шт' },
            { typeId: 't1', type: 'Розничная', value: 10, currency: 'USD' },
            { typeId: 't9', type: null, value: 11, currency: null },
            { typeId: null, type: null, value: 12, currency: null },
          ],
        },
      },
    ]);
  });

  it('refuses a price without a value, naming its price type when it has one', async () => {
    const typed = cml(offers('<Предложение><Ид>p1</Ид><Цены><Цена><ИдТипаЦены>t1</ИдТипаЦены></Цена></Цены></Предложение>'));
    expect((await readError(typed)).message).toBe(`${typed}:${where(typed, '<Предложение>')}: <Цена> without <ЦенаЗаЕдиницу> (price type t1) in КоммерческаяИнформация/ПакетПредложений/Предложения/Предложение`);
    const untyped = cml(offers('<Предложение><Ид>p1</Ид><Цены><Цена><Валюта>RUB</Валюта></Цена></Цены></Предложение>'));
    expect((await readError(untyped)).message).toBe(`${untyped}:${where(untyped, '<Предложение>')}: <Цена> without <ЦенаЗаЕдиницу> in КоммерческаяИнформация/ПакетПредложений/Предложения/Предложение`);
  });

  it('reads stock from Количество first, else the sum of Остатки, else the sum of Склад attributes, per warehouse where named', async () => {
    const { data } = await read(cml(offers(
      '<Предложение><Ид>s1</Ид><Количество>7</Количество><Остатки><Остаток><Количество>99</Количество></Остаток></Остатки></Предложение>',
      '<Предложение><Ид>s2</Ид><Остатки><Остаток><Склад><Ид>w1</Ид><Количество>2</Количество></Склад><Склад><Ид>w2</Ид><Количество>3,5</Количество></Склад><Склад><Ид>w3</Ид></Склад></Остаток></Остатки></Предложение>',
      '<Предложение><Ид>s3</Ид><Остатки><Остаток><Количество>4</Количество></Остаток><Остаток><Количество>1</Количество></Остаток></Остатки></Предложение>',
      '<Предложение><Ид>s4</Ид><Склад ИдСклада="w1" КоличествоНаСкладе="1"/><Склад ИдСклада="w2" КоличествоНаСкладе="2,5"/><Склад КоличествоНаСкладе="3"/><Склад ИдСклада="w4"/></Предложение>',
      '<Предложение><Ид>s5</Ид><Остатки><Остаток><Склад><Ид>w1</Ид><Количество>0</Количество></Склад></Остаток></Остатки><Склад ИдСклада="w9" КоличествоНаСкладе="8"/></Предложение>',
      '<Предложение><Ид>s6</Ид><Остатки><Остаток><Количество></Количество></Остаток></Остатки></Предложение>',
    )));
    expect(data('s1')).toEqual({ stock: 7 });
    expect(data('s2')).toEqual({ stock: 5.5, stockByWarehouse: [{ warehouseId: 'w1', quantity: 2 }, { warehouseId: 'w2', quantity: 3.5 }] });
    expect(data('s3')).toEqual({ stock: 5 });
    expect(data('s4')).toEqual({ stock: 6.5, stockByWarehouse: [{ warehouseId: 'w1', quantity: 1 }, { warehouseId: 'w2', quantity: 2.5 }] });
    expect(data('s5')).toEqual({ stock: 0, stockByWarehouse: [{ warehouseId: 'w1', quantity: 0 }, { warehouseId: 'w9', quantity: 8 }] });
    expect(data('s6')).toEqual({});
  });

  it('makes an offer id with # a variant of its product, deleted by its own mark; a plain offer\'s mark only says so', async () => {
    const { records } = await read(cml(offers(
      '<Предложение><Ид>p1#v1</Ид><Наименование>Стол, XL</Наименование></Предложение>',
      '<Предложение><Ид>p1#v2</Ид><ПометкаУдаления>true</ПометкаУдаления></Предложение>',
      '<Предложение><Ид>p2</Ид><ПометкаУдаления>true</ПометкаУдаления></Предложение>',
      '<Предложение><Ид>#odd</Ид></Предложение>',
    )));
    expect(records.map((r) => [r.id, r.op, r.partial, r.data])).toEqual([
      ['p1#v1', 'upsert', true, { name: 'Стол, XL', parentId: 'p1' }],
      ['p1#v2', 'delete', true, { parentId: 'p1', deleted: true }],
      ['p2', 'upsert', true, { deleted: true }],
      ['#odd', 'upsert', true, {}],
    ]);
  });

  it('reads offers of ИзмененияПакетаПредложений too, and no Предложение elsewhere', async () => {
    const changes = await read(cml('<ИзмененияПакетаПредложений><Предложения><Предложение><Ид>c1</Ид><Количество>1</Количество></Предложение></Предложения></ИзмененияПакетаПредложений>'));
    expect(changes.records.map((r) => [r.id, r.data])).toEqual([['c1', { stock: 1 }]]);
    expect(changes.packages).toEqual([{ element: 'ИзмененияПакетаПредложений', type: 'product', onlyChanges: undefined, line: 3 }]);
    const stray = await read(cml('<Каталог><Предложения><Предложение><Ид>x</Ид></Предложение></Предложения></Каталог><ПакетПредложений><Предложение><Ид>y</Ид></Предложение></ПакетПредложений>'));
    expect(stray.records).toEqual([]);
  });
});

describe('CommerceML counterparties (Контрагенты/Контрагент)', () => {
  const counterparties = (...items: string[]) => `<Контрагенты>${items.join('\n')}</Контрагенты>`;

  it('maps names, tax ids, contacts, the first real address and bank accounts', async () => {
    const file = cml(counterparties(`<Контрагент>
      <Ид>c1</Ид><НомерВерсии>v7</НомерВерсии><Наименование>Ромашка</Наименование><ПолноеНаименование>ООО «Ромашка»</ПолноеНаименование>
      <ИНН>7701234567</ИНН><КПП>770101001</КПП>
      <Адрес><Представление> , </Представление></Адрес>
      <АдресРегистрации><Представление>г. Москва, ул. Тверская, 1</Представление></АдресРегистрации>
      <ЮридическийАдрес><Представление>не этот</Представление></ЮридическийАдрес>
      <Контакты>
        <Контакт><Тип>Почта</Тип><Значение></Значение></Контакт>
        <Контакт><Тип>Телефон рабочий</Тип><Значение>+7 495 000-00-00</Значение></Контакт>
        <Контакт><Тип>Электронная почта</Тип><Значение>info@romashka.ru</Значение></Контакт>
        <Контакт><Тип>E-mail</Тип><Значение>second@romashka.ru</Значение></Контакт>
      </Контакты>
      <РасчетныеСчета>
        <РасчетныйСчет><НомерСчета>40702810900000000001</НомерСчета><Банк><Наименование>ПАО Сбербанк</Наименование><БИК>044525225</БИК><СчетКорреспондентский>30101810400000000225</СчетКорреспондентский></Банк></РасчетныйСчет>
        <РасчетныйСчет><Банк><Наименование>без номера</Наименование></Банк></РасчетныйСчет>
        <РасчетныйСчет><НомерСчета>40702810000000000002</НомерСчета></РасчетныйСчет>
      </РасчетныеСчета>
    </Контрагент>`));
    const { records } = await read(file);
    expect(records).toEqual([
      {
        type: 'user', id: 'c1', op: 'upsert', version: '2024-01-15T09:00:00.000Z', source: { file, line: lineOf(file, '<Контрагент>') },
        data: {
          name: 'Ромашка',
          fullName: 'ООО «Ромашка»',
          inn: '7701234567',
          kpp: '770101001',
          email: 'info@romashka.ru',
          phone: '+7 495 000-00-00',
          address: 'г. Москва, ул. Тверская, 1',
          bankAccounts: [
            { number: '40702810900000000001', bank: 'ПАО Сбербанк', bic: '044525225', correspondentAccount: '30101810400000000225' },
            { number: '40702810000000000002' },
          ],
          versionNumber: 'v7',
        },
      },
    ]);
  });

  it('names a counterparty by its full name, official name, person or id when Наименование is empty', async () => {
    const { data } = await read(cml(counterparties(
      '<Контрагент><Ид>n1</Ид><ПолноеНаименование>Полное</ПолноеНаименование><ОфициальноеНаименование>Официальное</ОфициальноеНаименование></Контрагент>',
      '<Контрагент><Ид>n2</Ид><ОфициальноеНаименование>Официальное</ОфициальноеНаименование></Контрагент>',
      '<Контрагент><Ид>n3</Ид><Фамилия>Петров</Фамилия><Имя>Пётр</Имя><Отчество>Петрович</Отчество></Контрагент>',
      '<Контрагент><Ид>n4</Ид><Фамилия>Иванова</Фамилия><Отчество>Ивановна</Отчество></Контрагент>',
      '<Контрагент><Ид>n5</Ид><Наименование></Наименование><Адрес><Представление>ул. Ленина, 2</Представление></Адрес><Контакты><Контакт><Тип>Phone</Тип><Значение>1</Значение></Контакт><Контакт><Тип>email</Тип><Значение>a@b.c</Значение></Контакт></Контакты></Контрагент>',
      '<Контрагент><Ид>n6</Ид><ЮридическийАдрес><Представление>г. Тула</Представление></ЮридическийАдрес><Контакты><Контакт><Значение>без типа</Значение></Контакт></Контакты></Контрагент>',
    )));
    expect(data('n1')).toEqual({ name: 'Полное', fullName: 'Полное' });
    expect(data('n2')).toEqual({ name: 'Официальное', fullName: 'Официальное' });
    expect(data('n3')).toEqual({ name: 'Петров Пётр Петрович' });
    expect(data('n4')).toEqual({ name: 'Иванова Ивановна' });
    expect(data('n5')).toEqual({ name: 'n5', address: 'ул. Ленина, 2', phone: '1', email: 'a@b.c' });
    expect(data('n6')).toEqual({ name: 'n6', address: 'г. Тула' });
  });

  it('deletes a counterparty marked for deletion, and refuses one without an Ид', async () => {
    const { records } = await read(cml(counterparties('<Контрагент><Ид>x1</Ид><Наименование>X</Наименование><ПометкаУдаления>true</ПометкаУдаления></Контрагент>')));
    expect(records.map((r) => [r.id, r.op, r.data])).toEqual([['x1', 'delete', { name: 'X', deleted: true }]]);
    const file = cml(counterparties('<Контрагент><Наименование>X</Наименование></Контрагент>'));
    expect((await readError(file)).message).toBe(`${file}:${where(file, '<Контрагент>')}: <Контрагент> without <Ид> in КоммерческаяИнформация/Контрагенты/Контрагент`);
  });

  it('reads a Контрагент only directly under the top Контрагенты', async () => {
    const { records } = await read(cml('<Каталог><Контрагенты><Контрагент><Ид>deep</Ид><Наименование>D</Наименование></Контрагент></Контрагенты></Каталог>'));
    expect(records).toEqual([]);
  });
});

describe('CommerceML documents (Документ)', () => {
  const documentXml = (id: string, extra = '') => `<Документ>
    <Ид>${id}</Ид><НомерВерсии>n1</НомерВерсии><Номер>ТД-${id}</Номер><Дата>2024-01-15</Дата><Время>10:30:00</Время><ХозОперация>Заказ товара</ХозОперация>
    <Валюта>RUB</Валюта><Сумма>1 500,00</Сумма><Комментарий>срочно</Комментарий><Основание>o1</Основание>
    <Контрагенты><Контрагент><Ид>c1</Ид><Наименование>Ромашка</Наименование></Контрагент><Контрагент><Ид>c2</Ид><Наименование>Лютик</Наименование></Контрагент></Контрагенты>
    <ЗначенияРеквизитов>
      <ЗначениеРеквизита><Наименование>Номер заказа</Наименование><Значение>o2</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Заказ покупателя</Наименование><Значение>o1</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>ИдЗаказа</Наименование><Значение></Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Договор контрагента</Наименование><Значение>Д-5</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Статус</Наименование><Значение>Новый</Значение></ЗначениеРеквизита>
    </ЗначенияРеквизитов>
    <Товары>
      <Товар><Ид>p1</Ид><Наименование>Стол</Наименование><БазоваяЕдиница>шт</БазоваяЕдиница><Количество>2</Количество><ЦенаЗаЕдиницу>500</ЦенаЗаЕдиницу><Сумма>1000</Сумма></Товар>
      <Товар><Ид>p2</Ид><Единица><НаименованиеКраткое>кг</НаименованиеКраткое></Единица><Цена>250</Цена><Количество>2</Количество><Сумма>500</Сумма></Товар>
    </Товары>${extra}
  </Документ>`;

  it('maps a document with its time in import.timeZone, its orders once each, its contract and lines', async () => {
    const file = cml(documentXml('d1'));
    const { records } = await read(file);
    expect(records.map((r) => [r.type, r.id])).toEqual([['user', 'c1'], ['user', 'c2'], ['mutualsettlements', 'd1']]);
    expect(records[2]).toEqual({
      type: 'mutualsettlements', id: 'd1', op: 'upsert', version: '2024-01-15T09:00:00.000Z', source: { file, line: lineOf(file, '<Документ>') },
      data: {
        number: 'ТД-d1',
        date: '2024-01-15T10:30:00+03:00',
        operation: 'Заказ товара',
        counterpartyId: 'c1',
        contract: 'Д-5',
        currency: 'RUB',
        amount: 1500,
        orderIds: ['o1', 'o2'],
        lines: [
          { productId: 'p1', name: 'Стол', quantity: 2, price: 500, amount: 1000, unit: 'шт' },
          { productId: 'p2', quantity: 2, price: 250, amount: 500, unit: 'кг' },
        ],
        comment: 'срочно',
        versionNumber: 'n1',
      },
    });
    // A document's counterparty comes from the document's element.
    expect(records[0]).toMatchObject({ op: 'upsert', data: { name: 'Ромашка' }, source: { file, line: lineOf(file, '<Документ>') } });
  });

  it('takes Договор over the contract requisite, and a deletion mark as an element or a requisite', async () => {
    const { records } = await read(cml([
      documentXml('d2', '<Договор>Д-9</Договор><ПометкаУдаления>true</ПометкаУдаления>'),
      documentXml('d3').replace('<Наименование>Статус</Наименование><Значение>Новый</Значение>', '<Наименование>ПометкаУдаления</Наименование><Значение>true</Значение>'),
      documentXml('d4').replace('<Наименование>Статус</Наименование><Значение>Новый</Значение>', '<Наименование>ПометкаУдаления</Наименование><Значение>false</Значение>'),
    ].join('\n')));
    const documents = records.filter((r) => r.type === 'mutualsettlements');
    expect(documents.map((r) => [r.id, r.op, r.data.contract, r.data.deleted])).toEqual([
      ['d2', 'delete', 'Д-9', true],
      ['d3', 'delete', 'Д-5', true],
      ['d4', 'upsert', 'Д-5', undefined],
    ]);
  });

  it('gives one user per distinct counterparty across documents, and only the types asked for', async () => {
    const file = cml([documentXml('d1'), documentXml('d2')].join('\n'));
    expect((await read(file)).records.map((r) => `${r.type}:${r.id}`)).toEqual(['user:c1', 'user:c2', 'mutualsettlements:d1', 'mutualsettlements:d2']);
    expect((await read(file, ['mutualsettlements'])).records.map((r) => `${r.type}:${r.id}`)).toEqual(['mutualsettlements:d1', 'mutualsettlements:d2']);
    expect((await read(file, ['user'])).records.map((r) => `${r.type}:${r.id}`)).toEqual(['user:c1', 'user:c2']);
    expect((await read(file, ['product'])).records).toEqual([]);
  });

  it('knows every requisite name 1C and site modules give an order or a contract, whatever its case', async () => {
    const requisite = (name: string, value: string) => `<ЗначениеРеквизита><Наименование>${name}</Наименование><Значение>${value}</Значение></ЗначениеРеквизита>`;
    const orders = [['Заказ', 'o1'], ['Номер заказа', 'o2'], ['Заказ покупателя', 'o3'], ['Ид заказа', 'o4'], ['ИдЗаказа', 'o5'], ['Основание', 'o6'], ['Статус', 'o7']];
    const { records } = await read(cml([
      `<Документ><Ид>r1</Ид><Основание></Основание><ЗначенияРеквизитов>${orders.map(([n, v]) => requisite(n, v)).join('')}</ЗначенияРеквизитов></Документ>`,
      ...[['Договор', 'c1'], ['Договор контрагента', 'c2'], ['Номер договора', 'c3'], ['Договор поставки', 'c4']].map(([n, v], i) => `<Документ><Ид>k${i}</Ид><ЗначенияРеквизитов>${requisite(n, v)}</ЗначенияРеквизитов></Документ>`),
      `<Документ><Ид>t1</Ид><ЗначенияРеквизитов>${requisite('Проведен', 'true')}</ЗначенияРеквизитов></Документ>`,
    ].join('\n')));
    expect(records.map((r) => [r.id, r.op, r.data])).toEqual([
      ['r1', 'upsert', { orderIds: ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'] }],
      ['k0', 'upsert', { contract: 'c1' }],
      ['k1', 'upsert', { contract: 'c2' }],
      ['k2', 'upsert', { contract: 'c3' }],
      ['k3', 'upsert', {}],
      // Only ПометкаУдаления deletes: another requisite that is "true" says nothing about deletion.
      ['t1', 'upsert', {}],
    ]);
  });

  it('reads a bare document: date only, no counterparty, nothing else', async () => {
    const { records } = await read(cml('<Документ><Ид>b1</Ид><Дата>15.01.2024</Дата></Документ>'));
    expect(records.map((r) => [r.type, r.id, r.data])).toEqual([['mutualsettlements', 'b1', { date: '2024-01-15' }]]);
  });

  it('reads Контейнер/Документ (3.x), no Документ deeper, and refuses one without an Ид', async () => {
    const container = await read(cml('<Контейнер><Документ><Ид>k1</Ид></Документ></Контейнер><Каталог><Контейнер><Документ><Ид>k2</Ид></Документ></Контейнер></Каталог>'));
    expect(container.records.map((r) => r.id)).toEqual(['k1']);
    const file = cml('<Документ><Номер>1</Номер></Документ>');
    expect((await readError(file)).message).toBe(`${file}:${where(file, '<Документ>')}: <Документ> without <Ид> in КоммерческаяИнформация/Документ`);
  });
});

describe('CommerceML header and packages', () => {
  it('tells each package as it opens: element, entity type, whether it holds only changes, line', async () => {
    const { packages } = await read(cml([
      '<Классификатор><Ид>k</Ид></Классификатор>',
      '<Каталог СодержитТолькоИзменения="false"><Товары/></Каталог>',
      '<ПакетПредложений СодержитТолькоИзменения="true"><Предложения/></ПакетПредложений>',
      '<Контрагенты/>',
      '<Документ><Ид>d</Ид></Документ>',
    ].join('\n')));
    expect(packages).toEqual([
      { element: 'Классификатор', type: undefined, onlyChanges: undefined, line: 3 },
      { element: 'Каталог', type: 'product', onlyChanges: false, line: 4 },
      { element: 'ПакетПредложений', type: 'product', onlyChanges: true, line: 5 },
      { element: 'Контрагенты', type: 'user', onlyChanges: undefined, line: 6 },
    ]);
  });

  it('gives the header: schema version, namespace, version from ДатаФормирования, encoding', async () => {
    const file = cml('', 'xmlns="urn:1C.ru:commerceml_2" ВерсияСхемы="2.07" ДатаФормирования="2024-01-15T12:00:00+05:00"');
    expect((await read(file)).header).toEqual({ file, schemaVersion: '2.07', namespace: 'urn:1C.ru:commerceml_2', version: '2024-01-15T07:00:00.000Z', versionFrom: 'ДатаФормирования', encoding: 'utf-8' });
    const prefixed = cml('', 'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:cml="urn:1C.ru:CommerceML_3" ДатаФормирования="2024-01-15"');
    expect((await read(prefixed)).header).toMatchObject({ namespace: 'urn:1C.ru:CommerceML_3', version: '2024-01-14T21:00:00.000Z', schemaVersion: undefined });
    const plain = cml('', 'xmlns="urn:1C.ru:commerceml" ДатаФормирования="2024-01-15"');
    expect((await read(plain)).header.namespace).toBe('urn:1C.ru:commerceml');
  });

  it('refuses a namespace that is not CommerceML\'s', async () => {
    for (const namespace of ['http://example.com/commerceml', 'urn:1C.ru:commerceml_2x!', 'xurn:1C.ru:commerceml_2']) {
      const file = cml('', `xmlns="${namespace}" ДатаФормирования="2024-01-15"`);
      const error = await readError(file);
      expect(error.message).toBe(`${file}:2:1: unknown CommerceML namespace "${namespace}"`);
      expect(error.hint).toBe('expected none, urn:1C.ru:commerceml_2, urn:1C.ru:commerceml_210 or urn:1C.ru:commerceml_3');
    }
  });

  it('refuses a ДатаФормирования that is no date, and a root that is not КоммерческаяИнформация', async () => {
    const file = cml('', 'ДатаФормирования="вчера"');
    const error = await readError(file);
    expect(error.message).toBe(`${file}:2:1: ДатаФормирования: not a date: "вчера" in КоммерческаяИнформация`);
    expect(error.hint).toBe('ДатаФормирования must be a date');
    const other = path.join(tmp, 'other-root.xml');
    fs.writeFileSync(other, '<Каталог><Товары/></Каталог>');
    const rootError = await readError(other);
    expect(rootError.message).toBe(`${other}:1:1: not a CommerceML file: the root element is <Каталог>, not <КоммерческаяИнформация>`);
    expect(rootError.hint).toBe('give `import` 1C CommerceML (КоммерческаяИнформация), CSV or JSON-lines files');
  });

  it('reads the encoding a prolog declares in single quotes', async () => {
    const file = path.join(tmp, 'single-quotes.xml');
    const text = `<?xml version='1.0' encoding='windows-1251'?>\n<КоммерческаяИнформация ${ROOT_ATTRIBUTES}>${catalog('<Товар><Ид>w1</Ид><Наименование>Счёт</Наименование></Товар>')}</КоммерческаяИнформация>`;
    const { default: iconv } = await import('iconv-lite');
    fs.writeFileSync(file, iconv.encode(text, 'win1251'));
    const { header, records } = await read(file);
    expect(header.encoding).toBe('windows-1251');
    expect(records.map((r) => r.data.name)).toEqual(['Счёт']);
  });
});

describe('CommerceML: only the elements where the standard puts them, only the types asked for', () => {
  it('skips items, offers, price types, counterparties and documents found elsewhere', async () => {
    const { records } = await read(cml([
      '<Каталог><Группы><Товар><Ид>g</Ид></Товар></Группы></Каталог>',
      '<ПакетПредложений><ТипЦены><Ид>t1</Ид><Наименование>Розничная</Наименование></ТипЦены><Склады><Предложение><Ид>s</Ид></Предложение></Склады>',
      '<Предложения><Предложение><Ид>p1</Ид><Цены><Цена><ИдТипаЦены>t1</ИдТипаЦены><ЦенаЗаЕдиницу>5</ЦенаЗаЕдиницу></Цена></Цены></Предложение></Предложения></ПакетПредложений>',
      '<Каталог><Контрагент><Ид>c</Ид><Наименование>C</Наименование></Контрагент><Документ><Ид>d</Ид></Документ></Каталог>',
    ].join('\n')));
    expect(records.map((r) => [r.id, r.data])).toEqual([['p1', { prices: [{ typeId: 't1', type: null, value: 5, currency: null }] }]]);
  });

  it('reads no products or counterparties when other types are asked for', async () => {
    const file = cml([
      catalog('<Товар><Ид>p</Ид></Товар>'),
      '<ПакетПредложений><ТипыЦен><ТипЦены><Ид>t1</Ид></ТипЦены></ТипыЦен><Предложения><Предложение><Ид>o</Ид></Предложение></Предложения></ПакетПредложений>',
      '<Контрагенты><Контрагент><Ид>c</Ид><Наименование>C</Наименование></Контрагент></Контрагенты>',
    ].join('\n'));
    expect((await read(file, ['user'])).records.map((r) => r.id)).toEqual(['c']);
    expect((await read(file, ['product'])).records.map((r) => r.id)).toEqual(['p', 'o']);
    expect((await read(file, ['mutualsettlements'])).records).toEqual([]);
  });

  it('keeps leading zeros of ids, in elements and in attributes', async () => {
    const { records } = await read(cml(offers('<Предложение><Ид>000123</Ид><Склад ИдСклада="007" КоличествоНаСкладе="1"/></Предложение>')));
    expect(records.map((r) => [r.id, r.data])).toEqual([['000123', { stock: 1, stockByWarehouse: [{ warehouseId: '007', quantity: 1 }] }]]);
  });

  it('takes the namespace from xmlns attributes only, and gives the schema version with an mtime version too', async () => {
    const file = cml('', 'ВерсияСхемы="2.10" Комментарий="выгрузка CommerceML"');
    const { header } = await read(file);
    expect(header).toEqual({ file, schemaVersion: '2.10', namespace: undefined, version: fs.statSync(file).mtime.toISOString(), versionFrom: 'mtime', encoding: 'utf-8' });
  });

  it('gives BAD_INPUT for a foreign root, namespace or date', async () => {
    const other = path.join(tmp, 'root-code.xml');
    fs.writeFileSync(other, '<Каталог/>');
    expect((await readError(other)).code).toBe('BAD_INPUT');
    expect((await readError(cml('', 'xmlns="urn:example"'))).code).toBe('BAD_INPUT');
    expect((await readError(cml('', 'ДатаФормирования="31.02.2024"'))).code).toBe('BAD_INPUT');
  });
});
