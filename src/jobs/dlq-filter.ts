import type { Message } from 'amqplib';
import { Header } from '../amqp/failure-headers.js';
import { ExchangeError } from '../errors.js';

/** A dead-lettered message as the filters see it: the body is decoded and parsed at most once. */
export class InspectedMessage {
  private parsed?: { ok: true; value: unknown } | { ok: false };

  constructor(readonly message: Message) {}

  /** The body's JSON value, or undefined when the body is not UTF-8 JSON. */
  get json(): unknown {
    if (!this.parsed) {
      try {
        this.parsed = { ok: true, value: JSON.parse(strictUtf8(this.message.content)) };
      } catch {
        this.parsed = { ok: false };
      }
    }
    return this.parsed.ok ? this.parsed.value : undefined;
  }

  get isJson(): boolean {
    void this.json;
    return this.parsed!.ok;
  }

  /** The entity id: the envelope's `id`, else the middle of the message-id `<type>:<id>:<version>`. */
  get entityId(): string | undefined {
    const body = this.json as { id?: unknown } | undefined;
    if (body && typeof body === 'object' && typeof body.id === 'string') return body.id;
    return this.message.properties.messageId?.split(':')[1];
  }
}

export type DlqFilter = (message: InspectedMessage) => boolean;

export const filterSyntax = 'id=<id>, code=<error code>, header:<name>=<value>, json:<path>=<value> or $.<path>=<value> (path: a.b[0].c, ["a.b"] for a key with dots)';

/**
 * One `--filter` expression (all of a run's must match):
 * - `id=<id>`: the envelope's id;
 * - `code=<code>`: the `exchange-error-code` header;
 * - `header:<name>=<value>`: any header, compared as text;
 * - `json:<path>=<value>` or `$.<path>=<value>`: a value in the JSON body. Strings compare exactly, numbers
 *   numerically (`json:data.qty=1` finds 1 and 1.0), true/false/null as those words,
 *   objects and arrays as their compact JSON. A missing path or a body that is not JSON never matches.
 * A path is a few steps, not JSONPath: keys separated by dots, `[n]` for an array item, `["key"]` for a key with
 * dots or brackets in it. That covers finding a message by a field without a dependency to learn and trust.
 */
export function parseDlqFilter(expression: string): DlqFilter {
  const bad = (why: string) => new ExchangeError('USAGE', `bad --filter "${expression}": ${why}`, { hint: `use ${filterSyntax}` });
  if (expression.startsWith('json:') || expression.startsWith('$.') || expression.startsWith('$[')) {
    const source = expression.startsWith('json:') ? expression.slice('json:'.length) : expression.slice(1);
    const { path, rest } = parsePath(source, bad);
    if (!rest.startsWith('=')) throw bad('a JSON path filter needs =<value>');
    const expected = rest.slice(1);
    return (message) => {
      const found = valueAt(message.json, path);
      return found.present && sameValue(found.value, expected);
    };
  }
  const match = /^(id|code|header:([^=]+))=(.*)$/s.exec(expression);
  if (!match) throw bad('unknown kind of filter');
  const [, kind, headerName, value] = match;
  if (kind === 'id') return (message) => message.entityId === value;
  if (kind === 'code') return (message) => headerText(message.message.properties.headers?.[Header.errorCode]) === value;
  return (message) => headerText(message.message.properties.headers?.[headerName]) === value;
}

type Step = string | number;

/** Reads steps from the start of `source` (`.key`, `[n]`, `["key"]`; the first key needs no dot) up to the `=`. */
function parsePath(source: string, bad: (why: string) => Error): { path: Step[]; rest: string } {
  const path: Step[] = [];
  let i = 0;
  const key = () => {
    const start = i;
    while (i < source.length && !'.[]='.includes(source[i])) i++;
    if (i === start) throw bad(`an empty key at position ${start + 1} of the path`);
    path.push(source.slice(start, i));
  };
  if (source[0] !== '.' && source[0] !== '[') key();
  while (i < source.length && source[i] !== '=') {
    if (source[i] === '.') {
      i++;
      key();
    } else if (source[i] === '[') {
      const close = source.indexOf(']', i);
      const inner = close < 0 ? '' : source.slice(i + 1, close);
      if (/^\d+$/.test(inner)) path.push(Number(inner));
      else if (/^"[^"]*"$/.test(inner)) path.push(inner.slice(1, -1));
      else throw bad(`"[${inner}" is neither [n] nor ["key"]`);
      i = close + 1;
    } else {
      throw bad(`unexpected "${source[i]}" in the path`);
    }
  }
  if (path.length === 0) throw bad('an empty path');
  return { path, rest: source.slice(i) };
}

function valueAt(root: unknown, path: Step[]): { present: boolean; value?: unknown } {
  let current = root;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(current) || step >= current.length) return { present: false };
      current = current[step];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.hasOwn(current, step)) return { present: false };
      current = (current as Record<string, unknown>)[step];
    }
  }
  return { present: true, value: current };
}

function sameValue(value: unknown, expected: string): boolean {
  // Text stays text: an INN "0274062111" must not match 274062111.
  if (typeof value === 'string') return value === expected;
  if (typeof value === 'number') return isNumeric(expected) && Number(expected) === value;
  if (typeof value === 'boolean' || value === null) return String(value) === expected;
  return JSON.stringify(value) === expected;
}

function isNumeric(text: string): boolean {
  return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text.trim());
}

/** A header value as text: what an operator typed after `=`. */
export function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text, or a throw when it is not valid UTF-8 (a lossy decode would make a different message). */
export function strictUtf8(body: Buffer): string {
  return utf8.decode(body);
}
