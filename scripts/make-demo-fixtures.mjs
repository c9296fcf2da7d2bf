// Writes fixtures/demo/*.jsonl: the bundled data `exchange demo` loads. Deterministic (seeded), so the
// files only change when this script does. Run: node scripts/make-demo-fixtures.mjs
import fs from 'node:fs';
import path from 'node:path';

let seed = 20261127;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (list) => list[Math.floor(random() * list.length)];
const digits = (n) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
const guid = () => {
  const hex = () => Math.floor(random() * 16).toString(16);
  const part = (n) => Array.from({ length: n }, hex).join('');
  return `${part(8)}-${part(4)}-11e${part(1)}-${part(4)}-${part(12)}`;
};
// A valid 10-digit legal-entity INN: the control digit per the Federal Tax Service's weights.
const inn10 = () => {
  const body = digits(9).split('').map(Number);
  const weights = [2, 4, 10, 3, 5, 9, 4, 6, 8];
  const control = (body.reduce((sum, d, i) => sum + d * weights[i], 0) % 11) % 10;
  return body.join('') + control;
};

const version = '2026-11-22T10:15:00.000Z';
const occurredAt = '2026-11-22T10:15:03.120Z';
const envelope = (type, id, data) => ({ type, op: 'upsert', id, version, source: '1c', occurredAt, data });

const forms = ['ООО', 'АО', 'ПАО', 'ЗАО'];
const names = ['Ромашка', 'Северный ветер', 'ТехноСнаб', 'Волга-Трейд', 'Уральские сети', 'СибирьЛес', 'Альфа-Принт', 'Камский завод',
  'Дельта Логистик', 'Стройкомплект', 'Меридиан', 'Невский берег', 'ЭкоПродукт', 'ГрандОфис', 'Профмет', 'Южный порт', 'Балтика Сервис',
  'Кварц', 'Технопарк', 'Восток-Агро', 'Медиа Групп', 'Сфера', 'Энергоресурс', 'Байкал-Инвест', 'ТрансАвто', 'Пищекомбинат', 'Оптторг',
  'Гефест', 'Горизонт', 'ИнфоСистемы'];
const cities = ['Москва', 'Санкт-Петербург', 'Казань', 'Екатеринбург', 'Новосибирск', 'Нижний Новгород', 'Самара', 'Пермь'];
const streets = ['ул. Ленина', 'пр-т Мира', 'ул. Гагарина', 'ул. Садовая', 'наб. Фонтанки', 'ул. Профсоюзная'];

const users = names.map((name, i) => {
  const form = pick(forms);
  const inn = inn10();
  return envelope('user', guid(), {
    name: `${form} «${name}»`,
    fullName: `${form === 'ООО' ? 'Общество с ограниченной ответственностью' : form === 'АО' ? 'Акционерное общество' : form === 'ПАО' ? 'Публичное акционерное общество' : 'Закрытое акционерное общество'} «${name}»`,
    inn,
    kpp: `${inn.slice(0, 4)}01001`,
    email: `info@company${i + 1}.ru`,
    phone: `+7 (${digits(3)}) ${digits(3)}-${digits(2)}-${digits(2)}`,
    address: `${100000 + Math.floor(random() * 899999)}, г. ${pick(cities)}, ${pick(streets)}, д. ${1 + Math.floor(random() * 120)}`,
    bankAccounts: [{ number: `40702810${digits(12)}`, bank: 'ПАО Сбербанк', bic: `04452${digits(4)}`, correspondentAccount: `30101810${digits(12)}` }],
  });
});

const goods = [
  ['Бумага офисная А4 80 г/м², 500 л.', 'пач', 389], ['Картридж лазерный HP 85A', 'шт', 2450], ['Степлер №24/6 металлический', 'шт', 312],
  ['Ручка шариковая синяя 0,7 мм', 'шт', 24], ['Папка-регистратор 75 мм', 'шт', 189], ['Скрепки 28 мм, 100 шт.', 'уп', 45],
  ['Маркер текстовыделитель жёлтый', 'шт', 67], ['Калькулятор настольный 12 разрядов', 'шт', 890], ['Клей-карандаш 21 г', 'шт', 58],
  ['Блокнот А5 80 л. клетка', 'шт', 145], ['Кресло офисное сетчатое', 'шт', 8900], ['Стол письменный 1200×600', 'шт', 7450],
  ['Лампа настольная светодиодная', 'шт', 2190], ['Шредер 4×40 мм', 'шт', 6390], ['Флешка USB 3.0 64 ГБ', 'шт', 790],
  ['Мышь беспроводная', 'шт', 990], ['Клавиатура проводная', 'шт', 1190], ['Монитор 27" IPS', 'шт', 21990],
  ['Кабель HDMI 2 м', 'шт', 390], ['Удлинитель 5 розеток 3 м', 'шт', 890], ['Батарейки AA, 4 шт.', 'уп', 259],
  ['Чай чёрный пакетированный, 100 пак.', 'уп', 349], ['Кофе зерновой 1 кг', 'кг', 1590], ['Сахар-рафинад 1 кг', 'кг', 119],
  ['Вода питьевая 19 л', 'шт', 390], ['Стаканы бумажные 250 мл, 50 шт.', 'уп', 189], ['Салфетки бумажные 100 шт.', 'уп', 79],
  ['Мыло жидкое 5 л', 'шт', 449], ['Полотенца бумажные Z-сложения', 'уп', 159], ['Мешки для мусора 120 л, 10 шт.', 'уп', 229],
];
const groupIds = [guid(), guid(), guid()];
const products = goods.map(([name, unit, price], i) => envelope('product', guid(), {
  name,
  sku: `АРТ-${String(1000 + i)}`,
  description: `${name}. Поставка со склада в Москве.`,
  groupIds: [groupIds[i % groupIds.length]],
  unit,
  barcode: `460${digits(10)}`,
  prices: [
    { typeId: 'e7b8b7a0-1d1c-11e0-9fa2-0019d1e6b1a3', type: 'Розничная', value: price, currency: 'RUB' },
    { typeId: 'e7b8b7a1-1d1c-11e0-9fa2-0019d1e6b1a3', type: 'Оптовая', value: Math.round(price * 0.85 * 100) / 100, currency: 'RUB' },
  ],
  stock: Math.floor(random() * 500),
  properties: { 'Страна происхождения': pick(['Россия', 'Китай', 'Германия', 'Финляндия']) },
  characteristics: [],
  deleted: false,
}));

const settlements = Array.from({ length: 30 }, (_, i) => {
  const user = users[i % users.length];
  const debit = Math.round(random() * 500000 * 100) / 100;
  const credit = Math.round(random() * debit * 100) / 100;
  const orderIds = [guid()];
  return envelope('mutualsettlements', guid(), {
    number: `ЦБ-${String(1500 + i).padStart(6, '0')}`,
    date: `2026-11-${String(1 + (i % 21)).padStart(2, '0')}T12:00:00.000Z`,
    counterpartyId: user.id,
    contract: `Договор поставки № ${100 + i} от 15.01.2026`,
    currency: 'RUB',
    amount: debit,
    debit,
    credit,
    balance: Math.round((debit - credit) * 100) / 100,
    orderIds,
    lines: [{ orderId: orderIds[0], amount: debit }],
  });
});

const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/demo');
fs.mkdirSync(dir, { recursive: true });
for (const [type, list] of [['user', users], ['product', products], ['mutualsettlements', settlements]]) {
  fs.writeFileSync(path.join(dir, `${type}.jsonl`), list.map((e) => JSON.stringify(e)).join('\n') + '\n');
}
console.log(`wrote ${users.length} users, ${products.length} products, ${settlements.length} mutual settlements to ${dir}`);
