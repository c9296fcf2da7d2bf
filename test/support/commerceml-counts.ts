import fs from 'node:fs';
import iconv from 'iconv-lite';

export interface ExpectedCounts {
  product: number;
  user: number;
  mutualsettlements: number;
}

/**
 * How many records DESIGN §9 says a CommerceML file makes, counted with nothing of the reader under test:
 * a plain walk over the file's tags with regular expressions, keeping only the path of open elements.
 * - product: every Каталог/Товары/Товар and every Предложение of a (ИзмененияПакета|Пакет)Предложений;
 * - mutualsettlements: every Документ at the root or in a Контейнер;
 * - user: every distinct Ид of a Контрагент in a root Контрагенты list or in a document's Контрагенты.
 * Tests compare the tool's counts with these, so a reader that skips or duplicates elements fails.
 */
export function expectedCommerceMlCounts(file: string): ExpectedCounts {
  const text = decode(fs.readFileSync(file))
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '');
  const counts: ExpectedCounts = { product: 0, user: 0, mutualsettlements: 0 };
  const users = new Set<string>();
  const stack: string[] = [];
  // Where the next <Ид> text belongs: the Контрагент element whose own Ид we are waiting for.
  let counterpartyDepth = -1;
  const tag = /<(\/?)([^\s>/]+)([^>]*?)(\/?)>|([^<]+)/g;
  for (let match = tag.exec(text); match; match = tag.exec(text)) {
    const [, closing, rawName, , selfClosing, content] = match;
    if (content !== undefined) {
      if (counterpartyDepth >= 0 && stack.length === counterpartyDepth + 2 && stack[stack.length - 1] === 'Ид') {
        users.add(content.trim());
        counterpartyDepth = -1;
      }
      continue;
    }
    const name = rawName.replace(/^[^:]+:/, '');
    if (closing) {
      stack.pop();
      continue;
    }
    const path = [...stack, name];
    const at = (...tail: string[]) => tail.every((part, index) => path[path.length - tail.length + index] === part);
    const depth = path.length - 1; // 0 is the root
    if (name === 'Товар' && at('Каталог', 'Товары', 'Товар')) counts.product++;
    if (name === 'Предложение' && (at('ПакетПредложений', 'Предложения', 'Предложение') || at('ИзмененияПакетаПредложений', 'Предложения', 'Предложение'))) counts.product++;
    if (name === 'Документ' && (depth === 1 || (depth === 2 && path[1] === 'Контейнер'))) counts.mutualsettlements++;
    const rootList = depth === 2 && path[1] === 'Контрагенты';
    const ofDocument = at('Документ', 'Контрагенты', 'Контрагент') && (depth === 3 || (depth === 4 && path[1] === 'Контейнер'));
    if (name === 'Контрагент' && (rootList || ofDocument)) counterpartyDepth = depth;
    if (!selfClosing) stack.push(name);
  }
  counts.user = users.size;
  return counts;
}

function decode(bytes: Buffer): string {
  const prolog = /^\uFEFF?<\?xml[^>]*encoding=["']([^"']+)["']/.exec(bytes.subarray(0, 200).toString('latin1'));
  const encoding = prolog?.[1].toLowerCase();
  if (encoding && encoding !== 'utf-8' && encoding !== 'utf8') return iconv.decode(bytes, encoding);
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}
