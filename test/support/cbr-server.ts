import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import iconv from 'iconv-lite';

/**
 * A stand-in for the Central Bank of Russia's daily rates service, answering as the real one does.
 *
 * | method | source | answer |
 * | --- | --- | --- |
 * | GET /scripts/XML_daily.asp?date_req=dd/mm/yyyy | the request form the CBR publishes for its daily rates (and public clients use as is); the real answers in fixtures/cbr (SOURCES.tsv) for the body, the XML declaration and charset the clients strip or decode | 200, `Content-Type: application/xml; charset=windows-1251`, windows-1251 bytes: `<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="dd.mm.yyyy" name="Foreign Currency Market">` then one `<Valute ID="R…">` per currency with `NumCode`, `CharCode`, `Nominal`, `Name`, `Value` (comma decimals) |
 * | the same, for a day without rates of its own (Sunday, Monday, a holiday) | issue 9 / DESIGN §10 (the CBR answers the last working day's rates with that day's date); the real answer dated Saturday 13.12.2025 in fixtures/cbr | the rates in force, with `ValCurs Date` = the day they were set, not the day asked for |
 * | failures (test switches) | what a client meets in practice | 500 with an HTML body; no answer at all (a hung connection); 200 with an HTML page instead of XML (a maintenance or proxy page) |
 * | `hold()` (a test switch, not a behaviour of the service) | none: it only holds a run mid-page for as long as a test needs | every request waits until released, then answers as above |
 *
 * Days with rates: Tuesday to Saturday (the rates set on a working day take effect the next day), less `holidays`.
 * 27.09.2023 and 13.12.2025 answer the real captured documents byte for byte in content; every other day answers
 * the 27.09.2023 document with its date and values moved (value × (1 + n/10000), n = days since 2000-01-01 mod 97),
 * so that each day's rates differ, as real ones do.
 */
const fixtures = path.resolve(__dirname, '../../fixtures/cbr');
export const realDays: Record<string, string> = {
  '2023-09-27': fs.readFileSync(path.join(fixtures, 'vital228-QtPractice_curs.asp.xml'), 'utf8'),
  '2025-12-13': fs.readFileSync(path.join(fixtures, 'Helheimiss-usingcbrfapi_XML_daily_eng_2025-12-13.extracted.xml'), 'utf8'),
};
const template = realDays['2023-09-27'];

export type CbrFailure = 'http-500' | 'timeout' | 'html';

export class CbrServer {
  /** Requested days (YYYY-MM-DD), in order. */
  readonly requests: string[] = [];
  /** Failures by requested day; each is served every time that day is asked for, until deleted. */
  readonly failures = new Map<string, CbrFailure>();
  readonly holidays = new Set<string>();
  /** Each answer waits this long first (a slow service, for a kill that lands mid-run). */
  delayMs = 0;
  /** While set, every request waits for it: a run held mid-page for as long as a test needs, whatever the machine's load. */
  gate?: Promise<void>;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<CbrServer> {
    let instance: CbrServer | undefined;
    const server = http.createServer((request, response) => { void instance!.handle(request, response); });
    instance = new CbrServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return instance;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/scripts/XML_daily.asp`;
  }

  /** The day whose rates are in force on `day`: the latest day with rates not after it. */
  publicationDay(day: string): string {
    let current = day;
    while (!this.hasRates(current)) current = addDays(current, -1);
    return current;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private hasRates(day: string): boolean {
    if (realDays[day]) return true;
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
    return weekday >= 2 && weekday <= 6 && !this.holidays.has(day);
  }

  /** Holds every request until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => { release = resolve; });
    return () => { this.gate = undefined; release(); };
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET' || url.pathname !== '/scripts/XML_daily.asp') {
      response.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>404</body></html>');
      return;
    }
    const match = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(url.searchParams.get('date_req') ?? '');
    if (!match) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('date_req=dd/mm/yyyy');
      return;
    }
    const day = `${match[3]}-${match[2]}-${match[1]}`;
    this.requests.push(day);
    if (this.gate) await this.gate;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const failure = this.failures.get(day);
    if (failure === 'timeout') return; // never answered: the client's timeout must end it
    if (failure === 'http-500') {
      response.writeHead(500, { 'content-type': 'text/html; charset=utf-8' }).end('<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>');
      return;
    }
    if (failure === 'html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><head><title>Банк России</title></head><body><p>Сервис временно недоступен. Технические работы.</p></body></html>');
      return;
    }
    const body = `<?xml version="1.0" encoding="windows-1251"?>${documentFor(this.publicationDay(day)).trim()}`;
    response.writeHead(200, { 'content-type': 'application/xml; charset=windows-1251' }).end(iconv.encode(body, 'windows-1251'));
  }
}

function documentFor(day: string): string {
  if (realDays[day]) return realDays[day];
  const n = Math.round(Date.parse(`${day}T00:00:00Z`) / 86_400_000) % 97;
  const [year, month, date] = day.split('-');
  return template
    .replace(/<ValCurs Date="[^"]*"/, `<ValCurs Date="${date}.${month}.${year}"`)
    .replace(/<Value>([\d,]+)<\/Value>/g, (_, value: string) => `<Value>${(Number(value.replace(',', '.')) * (1 + n / 10000)).toFixed(4).replace('.', ',')}</Value>`);
}

export function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}
