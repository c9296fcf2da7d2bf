import fs from 'node:fs';
import path from 'node:path';
import { ExchangeError } from '../errors.js';

export type OneCFileKind = 'commerceml' | 'csv' | 'jsonl';

/**
 * Tells a CommerceML, CSV or JSON-lines file apart by its first non-blank character (after a BOM), so a
 * misnamed export still goes to the right reader; the extension only decides for an empty file.
 */
export async function detectFileKind(file: string): Promise<OneCFileKind> {
  let head: Buffer;
  try {
    const handle = await fs.promises.open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new ExchangeError('BAD_INPUT', `${file}: cannot read the file: ${(error as Error).message}`, { hint: 'check the path', cause: error });
  }
  const start = head.toString('latin1').replace(/^(\xef\xbb\xbf|\xff\xfe|\xfe\xff)/, '').replace(/\x00/g, '').trimStart();
  if (start.startsWith('<')) return 'commerceml';
  if (start.startsWith('{')) return 'jsonl';
  if (start !== '') return 'csv';
  const extension = path.extname(file).toLowerCase();
  if (extension === '.xml') return 'commerceml';
  if (extension === '.jsonl' || extension === '.ndjson' || extension === '.json') return 'jsonl';
  return 'csv';
}
