import { ExchangeError } from '../errors.js';

/** What the scanner does with a start tag: cut out the whole element, or only report the tag (headers). */
export type Interest = 'capture' | 'open' | undefined;

export interface ScannedElement {
  kind: 'capture' | 'open';
  /** Local name (namespace prefix removed). */
  name: string;
  /** Local names from the root down to this element. */
  path: string[];
  attributes: Record<string, string>;
  /** The element's own text, start tag to end tag, for fast-xml-parser; only for `capture`. */
  xml?: string;
  line: number;
  column: number;
}

const HINT = 'the file is not well-formed XML: fix it or export it from 1C again; nothing from this file was imported';

/**
 * A forward-only XML tokenizer that keeps just the open-element stack and the text of the element it is
 * cutting out, so memory stays flat however large the file is. It checks what a streaming cut can
 * break (tag nesting and names, quoting inside tags, unterminated comments, CDATA and tags, text
 * outside the root) and knows the line and column of everything it reports; each cut element is parsed
 * afterwards, on its own, with fast-xml-parser.
 */
export class XmlElementScanner {
  private buf = '';
  private pos = 0;
  /** Absolute offset of buf[0] in the decoded text, and line bookkeeping up to `counted`. */
  private base = 0;
  private counted = 0;
  private line = 1;
  private lineStart = 0;
  private readonly stack: string[] = [];
  private capture?: { start: number; depth: number; element: ScannedElement };
  private rootSeen = false;

  constructor(
    private readonly file: string,
    private readonly interest: (name: string, stack: readonly string[]) => Interest,
  ) {}

  /** Feeds the next piece of text; returns the elements completed (or opened, for `open`) in it. */
  push(text: string): ScannedElement[] {
    const keep = this.capture ? this.capture.start : this.pos;
    this.locate(keep);
    this.buf = this.buf.slice(keep) + text;
    this.base += keep;
    this.pos -= keep;
    this.counted -= keep;
    if (this.capture) this.capture.start = 0;
    return this.scan();
  }

  /** Call at end of input: anything still open is a truncated file. */
  end(): ScannedElement[] {
    const out = this.scan();
    if (this.pos < this.buf.length || this.stack.length > 0) {
      const open = this.stack.length ? `<${this.stack[this.stack.length - 1]}> is not closed` : 'a tag is not closed';
      this.fail(this.buf.length, `unexpected end of file: ${open}`);
    }
    if (!this.rootSeen) this.fail(this.buf.length, 'no root element (empty file?)');
    return out;
  }

  private scan(): ScannedElement[] {
    const out: ScannedElement[] = [];
    const buf = this.buf;
    for (;;) {
      const lt = buf.indexOf('<', this.pos);
      this.checkText(lt === -1 ? buf.length : lt);
      if (lt === -1) {
        this.pos = buf.length;
        return out;
      }
      this.pos = lt;
      if (lt + 1 >= buf.length) return out;
      const next = buf.charCodeAt(lt + 1);
      if (next === 63 /* ? */) {
        const end = buf.indexOf('?>', lt + 2);
        if (end === -1) return out;
        this.pos = end + 2;
      } else if (next === 33 /* ! */) {
        if (buf.length - lt < 9) return out; // not enough to tell a comment from CDATA or DOCTYPE
        const [close, skip] = buf.startsWith('<!--', lt) ? ['-->', 4] : buf.startsWith('<![CDATA[', lt) ? [']]>', 9] : ['>', 2];
        if (close === ']]>' && this.stack.length === 0) this.fail(lt, 'CDATA outside the root element');
        const end = buf.indexOf(close, lt + skip);
        if (end === -1) return out;
        this.pos = end + close.length;
      } else if (next === 47 /* / */) {
        const end = buf.indexOf('>', lt + 2);
        if (end === -1) return out;
        this.endTag(lt, end, out);
        this.pos = end + 1;
      } else {
        const end = this.tagEnd(lt + 1);
        if (end === -1) return out;
        this.startTag(lt, end, out);
        this.pos = end + 1;
      }
    }
  }

  private startTag(lt: number, gt: number, out: ScannedElement[]): void {
    const selfClosing = this.buf.charCodeAt(gt - 1) === 47;
    const raw = this.buf.slice(lt + 1, selfClosing ? gt - 1 : gt);
    const nameEnd = raw.search(/[\s]/);
    const qualified = nameEnd === -1 ? raw : raw.slice(0, nameEnd);
    if (!/^[^\s<>/="'!?]+$/.test(qualified)) this.fail(lt, `malformed start tag <${raw.slice(0, 40)}`);
    if (this.stack.length === 0 && this.rootSeen) this.fail(lt, `a second root element <${qualified}>`);
    this.rootSeen = true;
    const name = localName(qualified);
    const rest = nameEnd === -1 ? '' : raw.slice(nameEnd);
    const want = this.capture ? undefined : this.interest(name, this.stack);
    const attributes = want || /\S/.test(rest) ? this.attributes(rest, lt) : {};
    if (want) {
      const { line, column } = this.locate(lt);
      const element: ScannedElement = { kind: want, name, path: [...this.stack, name], attributes, line, column };
      if (want === 'open') out.push(element);
      else this.capture = { start: lt, depth: this.stack.length, element };
    }
    if (!selfClosing) this.stack.push(name);
    else if (this.capture && this.capture.depth === this.stack.length) this.finishCapture(gt, out);
  }

  private endTag(lt: number, gt: number, out: ScannedElement[]): void {
    const raw = this.buf.slice(lt + 2, gt);
    if (!/^[^\s<>/="']+\s*$/.test(raw)) this.fail(lt, `malformed end tag </${raw.slice(0, 40)}`);
    const name = localName(raw.trim());
    const open = this.stack[this.stack.length - 1];
    if (open === undefined) this.fail(lt, `end tag </${name}> without a start tag`);
    if (open !== name) this.fail(lt, `end tag </${name}> where </${open}> was expected`);
    this.stack.pop();
    if (this.capture && this.capture.depth === this.stack.length) this.finishCapture(gt, out);
  }

  private finishCapture(gt: number, out: ScannedElement[]): void {
    const { start, element } = this.capture!;
    element.xml = this.buf.slice(start, gt + 1);
    out.push(element);
    this.capture = undefined;
  }

  /** The `>` that ends a start tag, skipping quoted attribute values (they may hold `>`). */
  private tagEnd(from: number): number {
    const buf = this.buf;
    let quote = 0;
    for (let i = from; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      // XML forbids "<" in attribute values too, so this also catches an attribute quote never closed.
      if (ch === 60) this.fail(i, `"<" inside the tag that starts at ${this.where(from - 1)}`);
      if (quote) {
        if (ch === quote) quote = 0;
      } else if (ch === 62) return i;
      else if (ch === 34 || ch === 39) quote = ch;
    }
    return -1;
  }

  private attributes(rest: string, lt: number): Record<string, string> {
    const attributes: Record<string, string> = {};
    const pattern = /\s*([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
    let index = 0;
    while (index < rest.length && /\S/.test(rest.slice(index))) {
      pattern.lastIndex = index;
      const match = pattern.exec(rest);
      if (!match) this.fail(lt, `malformed attribute near "${rest.slice(index).trim().slice(0, 40)}"`);
      const name = match[1].startsWith('xmlns') ? match[1] : localName(match[1]);
      attributes[name] = decodeEntities(match[2] ?? match[3]);
      index = pattern.lastIndex;
    }
    return attributes;
  }

  private checkText(end: number): void {
    if (this.stack.length > 0 || this.capture) return;
    const text = this.buf.slice(this.pos, end);
    const stray = text.search(/\S/);
    if (stray !== -1) this.fail(this.pos + stray, this.rootSeen ? 'text after the root element' : 'text before the root element (not an XML file?)');
  }

  /** Line and column of buf[index]; counts newlines forward from where it last stopped. */
  private locate(index: number): { line: number; column: number } {
    const buf = this.buf;
    for (let i = buf.indexOf('\n', this.counted); i !== -1 && i < index; i = buf.indexOf('\n', i + 1)) {
      this.line++;
      this.lineStart = this.base + i + 1;
    }
    if (index > this.counted) this.counted = index;
    return { line: this.line, column: this.base + index - this.lineStart + 1 };
  }

  private where(index: number): string {
    const { line, column } = this.locate(index);
    return `${line}:${column}`;
  }

  private fail(index: number, what: string): never {
    const { line, column } = this.locate(index);
    const inside = this.stack.length ? ` in ${this.stack.join('/')}` : '';
    throw new ExchangeError('BAD_INPUT', `${this.file}:${line}:${column}: ${what}${inside}`, { hint: HINT });
  }
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') return String.fromCodePoint(entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)));
    return entities[entity] ?? whole;
  });
}
