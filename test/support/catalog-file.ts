import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const generator = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/generate-catalog.mjs')).href;

/**
 * A CommerceML import.xml of `count` products (each a distinct Товар with its own Ид), written by the
 * benchmark's generator so tests and benchmarks read the same kind of file. Loaded by URL: the generator is
 * plain JavaScript without type declarations.
 */
export async function writeCatalog(file: string, count: number): Promise<{ bytes: number; products: number }> {
  const { generateCatalog } = (await import(generator)) as {
    generateCatalog: (options: { file: string; count: number }) => Promise<{ bytes: number; products: number }>;
  };
  return generateCatalog({ file, count });
}
