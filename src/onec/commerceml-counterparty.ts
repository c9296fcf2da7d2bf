import { OneCValueError, compact, list, parseOneCBoolean, text } from './one-c-values.js';

type Node = Record<string, unknown>;

/**
 * Maps a Контрагент (from Контрагенты or from a document) to a user record (DESIGN §6, §9).
 * The schema needs a name, and site-made orders often leave Наименование empty: the full or official
 * name, then the person's name, then the id itself stand in.
 */
export function mapCounterparty(node: Node): { id: string; op: 'upsert' | 'delete'; data: Record<string, unknown> } {
  const id = text(node['Ид']);
  if (!id) throw new OneCValueError('<Контрагент> without <Ид>');
  const fullName = text(node['ПолноеНаименование']) ?? text(node['ОфициальноеНаименование']);
  const person = [text(node['Фамилия']), text(node['Имя']), text(node['Отчество'])].filter(Boolean).join(' ');
  const contacts = list<Node>(list<Node>(node['Контакты'])[0]?.['Контакт']).map((c) => ({ type: text(c['Тип']) ?? '', value: text(c['Значение']) }));
  const contact = (pattern: RegExp) => contacts.find((c) => pattern.test(c.type) && c.value)?.value;
  const bankAccounts = list<Node>(list<Node>(node['РасчетныеСчета'])[0]?.['РасчетныйСчет']).flatMap((account) => {
    const number = text(account['НомерСчета']);
    const bank = list<Node>(account['Банк'])[0] ?? {};
    return number ? [compact({ number, bank: text(bank['Наименование']), bic: text(bank['БИК']), correspondentAccount: text(bank['СчетКорреспондентский']) })] : [];
  });
  const deleted = parseOneCBoolean(text(node['ПометкаУдаления'])) === true;
  const data = compact({
    name: text(node['Наименование']) ?? fullName ?? (person || id),
    fullName,
    inn: text(node['ИНН']),
    kpp: text(node['КПП']),
    email: contact(/почт|e-?mail/i),
    phone: contact(/телефон|phone/i),
    address: addressOf(node),
    bankAccounts: bankAccounts.length ? bankAccounts : undefined,
    versionNumber: text(node['НомерВерсии']),
    deleted: deleted || undefined,
  });
  return { id, op: deleted ? 'delete' : 'upsert', data };
}

function addressOf(node: Node): string | undefined {
  for (const key of ['Адрес', 'АдресРегистрации', 'ЮридическийАдрес']) {
    const address = list<Node>(node[key])[0];
    const presentation = address && text(address['Представление']);
    if (presentation && presentation.replace(/[\s,]/g, '') !== '') return presentation;
  }
  return undefined;
}
