import fs from 'node:fs';
import readline from 'node:readline';
import { ExchangeError } from '../errors.js';
import { validateEnvelope, type Envelope } from './envelope.js';
import type { EntityType } from './entity-types.js';

/**
 * Reads a JSON-lines file of envelopes (DESIGN §6), streamed, one line at a time. A bad line throws with
 * its file, line and column; callers read a file through before they publish any of it.
 */
export async function* readEnvelopeLines(file: string, expectedType?: EntityType): AsyncGenerator<{ envelope: Envelope; line: number; text: string }, void, undefined> {
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
    stream = fs.createReadStream(file, { encoding: 'utf8' });
  } catch (error) {
    throw new ExchangeError('BAD_INPUT', `${file}: cannot read the file: ${(error as Error).message}`, { hint: 'check the path', cause: error });
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  for await (const rawLine of lines) {
    lineNumber++;
    const line = lineNumber === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine;
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      const column = jsonErrorColumn(error as Error, line);
      throw new ExchangeError('BAD_INPUT', `${file}:${lineNumber}:${column}: not valid JSON: ${(error as Error).message}`, {
        hint: 'fix the line and run again; nothing from this file was published',
      });
    }
    const result = validateEnvelope(raw, expectedType);
    if (!result.ok) {
      throw new ExchangeError('BAD_INPUT', `${file}:${lineNumber}:1: ${result.reason}`, {
        hint: 'each line must be one message as DESIGN §6 describes; nothing from this file was published',
      });
    }
    // `text` is the line as written (without its BOM and line break): what `publish` sends, byte for byte.
    yield { envelope: result.envelope, line: lineNumber, text: line };
  }
}

function jsonErrorColumn(error: Error, line: string): number {
  const position = /position (\d+)/.exec(error.message);
  if (position) return Number(position[1]) + 1;
  return line.length + 1;
}
