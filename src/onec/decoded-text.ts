import fs from 'node:fs';
import iconv from 'iconv-lite';
import { ExchangeError } from '../errors.js';

export interface DecodeOptions {
  /** Reads the encoding a file declares (XML prolog) from its first bytes, decoded as latin1. */
  declaredEncoding?: (head: string) => string | undefined;
  /** Told once, before the first text, which encoding was chosen and why. */
  onEncoding?: (encoding: string, how: 'bom' | 'declared' | 'default' | 'detected') => void;
  chunkSize?: number;
  /** Told the bytes read so far after each chunk (an import's progress against the file's size). */
  onBytes?: (bytesRead: number) => void;
}

/**
 * Reads a file as text, chunk by chunk, so that a multi-gigabyte 1C export never sits in memory whole.
 * 1C writes UTF-8 (with or without BOM) or windows-1251, and not every exporter tells the truth in the
 * prolog: bytes that are not valid UTF-8 at the start of a file that claims (or defaults to) UTF-8 mean
 * windows-1251. Invalid UTF-8 further in cannot be re-decoded any more, so it is a BAD_INPUT naming the
 * line and column where it sits.
 */
export async function* readDecodedText(file: string, options: DecodeOptions = {}): AsyncGenerator<string, void, undefined> {
  const stream = fs.createReadStream(file, { highWaterMark: options.chunkSize ?? 256 * 1024 });
  let decoder: { write(bytes: Buffer): string; end(): string } | undefined;
  const position = { line: 1, column: 1 };
  let bytesRead = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead += chunk.length;
      options.onBytes?.(bytesRead);
      decoder ??= chooseDecoder(file, chunk, options);
      let decoded: string;
      try {
        decoded = decoder.write(chunk);
      } catch {
        throw invalidUtf8(file, chunk, position);
      }
      advance(position, decoded);
      if (decoded) yield decoded;
    }
    const rest = decoder?.end();
    if (rest) yield rest;
  } catch (error) {
    if (error instanceof ExchangeError) throw error;
    throw new ExchangeError('BAD_INPUT', `${file}: cannot read the file: ${(error as Error).message}`, {
      hint: 'check the path and its permissions',
      cause: error,
    });
  } finally {
    stream.destroy();
  }
}

function chooseDecoder(file: string, head: Buffer, options: DecodeOptions): { write(bytes: Buffer): string; end(): string } {
  const report = options.onEncoding ?? (() => {});
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    report('utf-8', 'bom');
    return utf8Decoder();
  }
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    const encoding = head[0] === 0xff ? 'utf-16le' : 'utf-16be';
    report(encoding, 'bom');
    return iconvDecoder(encoding);
  }
  const declared = options.declaredEncoding?.(head.subarray(0, 1024).toString('latin1'))?.trim().toLowerCase();
  if (declared && !/^utf-?8$/.test(declared)) {
    if (!iconv.encodingExists(declared)) {
      throw new ExchangeError('BAD_INPUT', `${file}:1:1: unknown encoding "${declared}" declared in the XML prolog`, {
        hint: '1C writes UTF-8 or windows-1251; re-export the file in one of them',
      });
    }
    report(declared, 'declared');
    return iconvDecoder(declared);
  }
  if (!isUtf8Start(head)) {
    report('windows-1251', 'detected');
    return iconvDecoder('windows-1251');
  }
  report('utf-8', declared ? 'declared' : 'default');
  return utf8Decoder();
}

function utf8Decoder() {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return { write: (bytes: Buffer) => decoder.decode(bytes, { stream: true }), end: () => decoder.decode() };
}

function iconvDecoder(encoding: string) {
  const decoder = iconv.getDecoder(encoding);
  return { write: (bytes: Buffer) => decoder.write(bytes), end: () => decoder.end() ?? '' };
}

function isUtf8Start(head: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

function advance(position: { line: number; column: number }, decoded: string): void {
  let last = -1;
  for (let i = decoded.indexOf('\n'); i !== -1; i = decoded.indexOf('\n', i + 1)) {
    position.line++;
    last = i;
  }
  position.column = last === -1 ? position.column + decoded.length : decoded.length - last;
}

/** Finds the first byte that breaks UTF-8 in the chunk, to name its line and column. */
function invalidUtf8(file: string, chunk: Buffer, position: { line: number; column: number }): ExchangeError {
  let index = 0;
  while (index < 3 && (chunk[index] & 0xc0) === 0x80) index++; // the tail of a character begun in the previous chunk
  const start = index;
  while (index < chunk.length) {
    const byte = chunk[index];
    const length = byte < 0x80 ? 1 : byte >= 0xc2 && byte < 0xe0 ? 2 : byte >= 0xe0 && byte < 0xf0 ? 3 : byte >= 0xf0 && byte < 0xf5 ? 4 : 0;
    let valid = length > 0;
    for (let k = 1; valid && k < length; k++) valid = index + k >= chunk.length || (chunk[index + k] & 0xc0) === 0x80;
    if (!valid) break;
    index += length;
  }
  const at = { ...position };
  advance(at, chunk.subarray(start, index).toString('utf8'));
  const byte = chunk[index] === undefined ? '' : ` 0x${chunk[index].toString(16).padStart(2, '0')}`;
  return new ExchangeError('BAD_INPUT', `${file}:${at.line}:${at.column}: invalid UTF-8 byte${byte}`, {
    hint: 'the file is read as UTF-8 (declared or by default) but is not; re-export it as UTF-8, or declare encoding="windows-1251" in the prolog',
  });
}
