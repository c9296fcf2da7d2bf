#!/usr/bin/env node
// Generates a CommerceML 2.07 import.xml (КоммерческаяИнформация / Классификатор / Каталог / Товары / Товар) of
// realistic products, streamed, modelled on fixtures/1c/dobromyslov-commerceml-parser/import0_1.xml. Used by
// bench/import-bench.mjs; also runnable on its own:
//
//   node bench/generate-catalog.mjs <out.xml> --mb 1024          (products until the file reaches 1024 MiB)
//   node bench/generate-catalog.mjs <out.xml> --count 100000 [--small]
//
// Product i is a pure function of (i, small): the same index gives the same bytes in every file, so a
// one-product file repeats the first product of a large one exactly. Next to the file a `<file>.meta.json`
// records what was generated (bytes, products, options, generator version); `ensureCatalog` reuses a file
// whose meta matches the request and whose size on disk equals the recorded size.
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GENERATOR_VERSION = 1;
export const FORMED_AT = '2026-11-20T10:15:00';

// ---------------------------------------------------------------- deterministic randomness

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand, n) => {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)];
  return s;
};

/** A GUID like 1C's: random-looking, unique by construction (the index is in the last group). */
function guidOf(rand, index) {
  return `${hex(rand, 8)}-${hex(rand, 4)}-11e${hex(rand, 1)}-80c${hex(rand, 1)}-${hex(rand, 5)}${index.toString(16).padStart(7, '0')}`;
}

/** Fixed ids of the classifier (seeded once, the same in every file). */
const fixedRand = mulberry32(0x1c0de);
const fixedGuid = () => `${hex(fixedRand, 8)}-${hex(fixedRand, 4)}-11e7-80c2-0cc47ab29cd1`;
const pick = (rand, list) => list[Math.floor(rand() * list.length)];

// ---------------------------------------------------------------- vocabulary

const OWNER = { id: fixedGuid(), name: 'Рога и Копыта ООО', inn: '2500000000', kpp: '250000000' };
const CLASSIFIER_ID = fixedGuid();

const GROUPS = [
  { id: fixedGuid(), name: 'Коврики для дома', kind: 'Коврик', nouns: ['Портативный коврик', 'Игровой коврик', 'Развивающий коврик', 'Складной коврик'] },
  { id: fixedGuid(), name: 'Посуда и кухонные принадлежности', kind: 'Посуда', nouns: ['Кастрюля', 'Сковорода', 'Набор ножей', 'Контейнер для хранения'] },
  { id: fixedGuid(), name: 'Домашний текстиль', kind: 'Текстиль', nouns: ['Комплект постельного белья', 'Плед', 'Полотенце махровое', 'Подушка'] },
  { id: fixedGuid(), name: 'Детские товары', kind: 'Детские товары', nouns: ['Конструктор', 'Мягкая игрушка', 'Настольная игра', 'Детский рюкзак'] },
  { id: fixedGuid(), name: 'Товары для ванной', kind: 'Ванная', nouns: ['Коврик для ванной', 'Шторка для душа', 'Дозатор для мыла', 'Полка угловая'] },
  { id: fixedGuid(), name: 'Садовый инвентарь', kind: 'Сад', nouns: ['Лейка', 'Секатор', 'Шланг поливочный', 'Кашпо'] },
];

const MANUFACTURERS = ['Crazy Boom', 'Parklon', 'Tefal', 'Самсон', 'Мирт', 'Текстиль-Люкс', 'Vitesse', 'Ивановский текстиль', 'Fiskars', 'Полесье'].map((name) => ({ id: fixedGuid(), name }));
const COUNTRIES = ['КОРЕЯ, РЕСПУБЛИКА', 'РОССИЯ', 'КИТАЙ', 'ТУРЦИЯ', 'БЕЛАРУСЬ', 'ГЕРМАНИЯ'].map((value) => ({ id: fixedGuid(), value }));
const LINES = ['Portable', 'Prime Living', 'Pure Soft', 'Sillky', 'Bubble', 'Mini', 'Warm', 'Классика', 'Эко'].map((value) => ({ id: fixedGuid(), value }));
const MATERIALS = ['Полиэтилен', 'Хлопок', 'Нержавеющая сталь', 'Полипропилен', 'Бамбук', 'Керамика', 'Вспененный ПВХ'].map((value) => ({ id: fixedGuid(), value }));
const COLORS = ['Деревянные лошадки', 'Морской бриз', 'Лесные звери', 'Графит', 'Бежевый', 'Мятный', 'Пудровый', 'Белый', 'Терракота', 'Сказочный город'];

const PROPERTIES = {
  ozon: { id: fixedGuid(), name: 'Код ОЗОН', type: 'Строка' },
  weight: { id: fixedGuid(), name: 'Габарит_Вес', type: 'Число' },
  country: { id: fixedGuid(), name: 'Страна производства', type: 'Справочник', values: COUNTRIES },
  line: { id: fixedGuid(), name: 'Линейка', type: 'Справочник', values: LINES },
  length: { id: fixedGuid(), name: 'Товар_Длина', type: 'Число' },
  width: { id: fixedGuid(), name: 'Товар_Ширина', type: 'Число' },
  thickness: { id: fixedGuid(), name: 'Товар_Толщина', type: 'Число' },
  color: { id: fixedGuid(), name: 'Расцветка', type: 'Строка' },
  material: { id: fixedGuid(), name: 'Материал', type: 'Справочник', values: MATERIALS },
  boxLength: { id: fixedGuid(), name: 'Упаковка_Длина', type: 'Число' },
  boxWidth: { id: fixedGuid(), name: 'Упаковка_Ширина', type: 'Число' },
  boxHeight: { id: fixedGuid(), name: 'Упаковка_Высота', type: 'Число' },
};

const DESCRIPTION_SENTENCES = [
  'Изделие выполнено из безопасных гипоаллергенных материалов и не имеет запаха.',
  'Поверхность легко моется влажной тканью с мягким моющим средством.',
  'Подходит для ежедневного использования в квартире, на даче и в поездках.',
  'Товар сертифицирован и соответствует требованиям технического регламента Таможенного союза.',
  'Компактно складывается и не занимает много места при хранении.',
  'Яркий рисунок не выцветает после многократной стирки и длительного использования.',
  'Нескользящее основание надёжно удерживает изделие на полу.',
  'Рекомендуется хранить в сухом месте при температуре от +5 до +35 °C.',
  'Гарантия производителя — 12 месяцев со дня продажи.',
  'В комплект входит инструкция по уходу на русском языке.',
  'Материал устойчив к истиранию, ультрафиолету и перепадам температуры.',
  'Упаковка: картонная коробка с ручкой для переноски.',
];

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const decimal = (rand, max, digits) => (rand() * max).toFixed(digits).replace('.', ',').replace(/,?0+$/, '') || '0';

// ---------------------------------------------------------------- document parts

export function headerXml() {
  const t = '\t';
  const lines = [
    '\ufeff<?xml version="1.0" encoding="UTF-8"?>',
    `<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_2" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ВерсияСхемы="2.07" ДатаФормирования="${FORMED_AT}">`,
    `${t}<Классификатор>`,
    `${t}${t}<Ид>${CLASSIFIER_ID}</Ид>`,
    `${t}${t}<Наименование>Классификатор (Каталог товаров)</Наименование>`,
    ownerXml(2),
    `${t}${t}<Группы>`,
    ...GROUPS.flatMap((g) => [`${t}${t}${t}<Группа>`, `${t}${t}${t}${t}<Ид>${g.id}</Ид>`, `${t}${t}${t}${t}<Наименование>${esc(g.name)}</Наименование>`, `${t}${t}${t}</Группа>`]),
    `${t}${t}</Группы>`,
    `${t}${t}<Свойства>`,
    ...Object.values(PROPERTIES).flatMap((p) => [
      `${t}${t}${t}<Свойство>`,
      `${t}${t}${t}${t}<Ид>${p.id}</Ид>`,
      `${t}${t}${t}${t}<Наименование>${esc(p.name)}</Наименование>`,
      `${t}${t}${t}${t}<ТипЗначений>${p.type}</ТипЗначений>`,
      ...(p.values ? [
        `${t}${t}${t}${t}<ВариантыЗначений>`,
        ...p.values.flatMap((v) => [`${t}${t}${t}${t}${t}<Справочник>`, `${t}${t}${t}${t}${t}${t}<ИдЗначения>${v.id}</ИдЗначения>`, `${t}${t}${t}${t}${t}${t}<Значение>${esc(v.value)}</Значение>`, `${t}${t}${t}${t}${t}</Справочник>`]),
        `${t}${t}${t}${t}</ВариантыЗначений>`,
      ] : []),
      `${t}${t}${t}</Свойство>`,
    ]),
    `${t}${t}</Свойства>`,
    `${t}</Классификатор>`,
    `${t}<Каталог СодержитТолькоИзменения="false">`,
    `${t}${t}<Ид>${CLASSIFIER_ID}</Ид>`,
    `${t}${t}<ИдКлассификатора>${CLASSIFIER_ID}</ИдКлассификатора>`,
    `${t}${t}<Наименование>Каталог товаров</Наименование>`,
    ownerXml(2),
    `${t}${t}<Товары>`,
  ];
  return `${lines.join('\n')}\n`;
}

export function footerXml() {
  return '\t\t</Товары>\n\t</Каталог>\n</КоммерческаяИнформация>\n';
}

function ownerXml(depth) {
  const t = '\t'.repeat(depth);
  return [
    `${t}<Владелец>`,
    `${t}\t<Ид>${OWNER.id}</Ид>`,
    `${t}\t<Наименование>${OWNER.name}</Наименование>`,
    `${t}\t<ОфициальноеНаименование>${OWNER.name}</ОфициальноеНаименование>`,
    `${t}\t<ИНН>${OWNER.inn}</ИНН>`,
    `${t}\t<КПП>${OWNER.kpp}</КПП>`,
    `${t}\t<ОКПО/>`,
    `${t}</Владелец>`,
  ].join('\n');
}

/** One <Товар>: 1.2–3 KB (about 1.9 KB on average; the Cyrillic tags are 2 bytes a letter) in full form, about 1.3 KB with `small`. */
export function productXml(index, small = false) {
  const rand = mulberry32((index * 2654435761) ^ (small ? 0x5a5a5a5a : 0));
  const id = guidOf(rand, index);
  const group = pick(rand, GROUPS);
  const noun = pick(rand, group.nouns);
  const line = pick(rand, LINES);
  const color = pick(rand, COLORS);
  const length = 50 + Math.floor(rand() * 200);
  const width = 30 + Math.floor(rand() * 150);
  const thickness = 1 + Math.floor(rand() * 5);
  const name = `${noun} ${line.value} ${length}x${width}x${thickness} см, ${color}`;
  const sku = `${group.kind.slice(0, 2).toUpperCase()}-${100 + Math.floor(rand() * 900)}-${index.toString(36).toUpperCase()}`;
  const barcode = `46${String(Math.floor(rand() * 1e10)).padStart(10, '0')}${index % 10}`;
  const ti = '\t\t\t\t';
  const out = [
    '\t\t\t<Товар>',
    `${ti}<Ид>${id}</Ид>`,
    `${ti}<Штрихкод>${barcode}</Штрихкод>`,
    `${ti}<Артикул>${esc(sku)}</Артикул>`,
    `${ti}<Наименование>${esc(name)}</Наименование>`,
    // Both forms real files use: with a <Пересчет> (2.07) or the short name as the element's text (2.05).
    ...(small || rand() < 0.7
      ? [`${ti}<БазоваяЕдиница Код="796" НаименованиеПолное="Штука" МеждународноеСокращение="PCE">шт</БазоваяЕдиница>`]
      : [
        `${ti}<БазоваяЕдиница Код="796 " НаименованиеПолное="Штука" МеждународноеСокращение="PCE">`,
        `${ti}\t<Пересчет>`,
        `${ti}\t\t<Единица>796</Единица>`,
        `${ti}\t\t<Коэффициент>1</Коэффициент>`,
        `${ti}\t</Пересчет>`,
        `${ti}</БазоваяЕдиница>`,
      ]),
    `${ti}<Группы>`,
    `${ti}\t<Ид>${group.id}</Ид>`,
    `${ti}</Группы>`,
  ];
  const sentences = small ? 0 : rand() < 0.8 ? 1 : 2;
  const description = [];
  for (let s = 0; s < sentences; s++) description.push(pick(rand, DESCRIPTION_SENTENCES));
  // Many 1C catalogs leave Описание empty (<Описание/>, as in the fixtures).
  if (!small && rand() < 0.35) out.push(`${ti}<Описание/>`);
  else out.push(`${ti}<Описание>${esc(description.length ? `${name}. ${description.join(' ')}` : name)}</Описание>`);
  if (!small && rand() < 0.2) {
    const maker = pick(rand, MANUFACTURERS);
    out.push(`${ti}<Изготовитель>`, `${ti}\t<Ид>${maker.id}</Ид>`, `${ti}\t<Наименование>${esc(maker.name)}</Наименование>`, `${ti}</Изготовитель>`);
  }
  // A full product states 1–4 of the classifier's properties (always its line), as 1C exports do.
  const optional = [
    [PROPERTIES.ozon, String(100000000 + Math.floor(rand() * 899999999))],
    [PROPERTIES.weight, decimal(rand, 5, 2)],
    [PROPERTIES.country, pick(rand, COUNTRIES).id],
    [PROPERTIES.length, String(length)],
    [PROPERTIES.width, String(width)],
    [PROPERTIES.thickness, String(thickness)],
    [PROPERTIES.material, pick(rand, MATERIALS).id],
    [PROPERTIES.boxLength, decimal(rand, 1, 2)],
    [PROPERTIES.boxWidth, decimal(rand, 1, 2)],
    [PROPERTIES.boxHeight, decimal(rand, 0.5, 2)],
  ].filter(() => rand() < 0.1);
  const values = small ? [[PROPERTIES.line, line.id]] : [[PROPERTIES.line, line.id], ...(rand() < 0.5 ? [[PROPERTIES.color, color]] : []), ...optional.slice(0, 2)];
  out.push(`${ti}<ЗначенияСвойств>`);
  for (const [property, value] of values) {
    out.push(`${ti}\t<ЗначенияСвойства>`, `${ti}\t\t<Ид>${property.id}</Ид>`, `${ti}\t\t<Значение>${esc(value)}</Значение>`, `${ti}\t</ЗначенияСвойства>`);
  }
  out.push(`${ti}</ЗначенияСвойств>`);
  if (!small && rand() < 0.2) out.push(`${ti}<СтавкиНалогов>`, `${ti}\t<СтавкаНалога>`, `${ti}\t\t<Наименование>НДС</Наименование>`, `${ti}\t\t<Ставка>20</Ставка>`, `${ti}\t</СтавкаНалога>`, `${ti}</СтавкиНалогов>`);
  const requisites = small
    ? [['ТипНоменклатуры', 'Товар']]
    : [['ВидНоменклатуры', group.name], ...(rand() < 0.5 ? [['ТипНоменклатуры', 'Товар']] : [])];
  out.push(`${ti}<ЗначенияРеквизитов>`);
  for (const [key, value] of requisites) {
    out.push(`${ti}\t<ЗначениеРеквизита>`, `${ti}\t\t<Наименование>${esc(key)}</Наименование>`, `${ti}\t\t<Значение>${esc(value)}</Значение>`, `${ti}\t</ЗначениеРеквизита>`);
  }
  out.push(`${ti}</ЗначенияРеквизитов>`, '\t\t\t</Товар>');
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- writing

/**
 * Writes the file (to `<file>.partial`, renamed when complete): products until `targetBytes` is reached,
 * or exactly `count` products. Returns { bytes, products }.
 */
export async function generateCatalog({ file, targetBytes, count, small = false, onProgress }) {
  if ((targetBytes === undefined) === (count === undefined)) throw new Error('generateCatalog: give targetBytes or count');
  const partial = `${file}.partial`;
  const stream = createWriteStream(partial);
  const failed = new Promise((_, reject) => stream.once('error', reject));
  failed.catch(() => undefined);
  const footer = footerXml();
  const footerBytes = Buffer.byteLength(footer);
  let bytes = 0; // written or buffered
  let products = 0;
  let chunk = '';
  const write = async (text) => {
    chunk += text;
    bytes += Buffer.byteLength(text);
    if (chunk.length < 1 << 20) return;
    const piece = chunk;
    chunk = '';
    if (!stream.write(piece)) await Promise.race([once(stream, 'drain'), failed]);
  };
  await write(headerXml());
  let lastReport = 0;
  for (;;) {
    if (count !== undefined ? products >= count : bytes + footerBytes >= targetBytes) break;
    await write(productXml(products, small));
    products++;
    if (onProgress && products - lastReport >= 100_000) { lastReport = products; onProgress(bytes, products); }
  }
  await write(footer);
  stream.end(chunk);
  await Promise.race([once(stream, 'finish'), failed]);
  renameSync(partial, file);
  return { bytes, products };
}

/** Reuses `file` when its meta matches the request and its size on disk is the recorded size; else regenerates. */
export async function ensureCatalog({ file, targetBytes, count, small = false, onProgress }) {
  const metaFile = `${file}.meta.json`;
  const request = { generatorVersion: GENERATOR_VERSION, targetBytes: targetBytes ?? null, count: count ?? null, small, formedAt: FORMED_AT };
  if (existsSync(file) && existsSync(metaFile)) {
    try {
      const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
      const same = Object.entries(request).every(([key, value]) => meta[key] === value);
      if (same && statSync(file).size === meta.bytes) return { ...meta, file, reused: true };
    } catch { /* regenerate */ }
  }
  rmSync(metaFile, { force: true });
  const started = performance.now();
  const { bytes, products } = await generateCatalog({ file, targetBytes, count, small, onProgress });
  const meta = { ...request, bytes, products };
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`);
  return { ...meta, file, reused: false, seconds: (performance.now() - started) / 1000 };
}

// ---------------------------------------------------------------- CLI

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const valueOf = (flag) => { const i = args.indexOf(flag); return i >= 0 ? Number(args[i + 1]) : undefined; };
  const mb = valueOf('--mb');
  const count = valueOf('--count');
  if (!file || (mb === undefined) === (count === undefined)) {
    process.stderr.write('usage: node bench/generate-catalog.mjs <out.xml> (--mb <MiB> | --count <products>) [--small]\n');
    process.exit(2);
  }
  const result = await ensureCatalog({
    file: path.resolve(file), targetBytes: mb === undefined ? undefined : mb * 1024 * 1024, count, small: args.includes('--small'),
    onProgress: (bytes, products) => process.stderr.write(`\r${(bytes / 1048576).toFixed(0)} MiB, ${products} products`),
  });
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
