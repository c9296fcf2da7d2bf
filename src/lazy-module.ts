import { createRequire } from 'node:module';

const requireFromHere = createRequire(import.meta.url);

/**
 * A dependency loaded on first use instead of at start-up: every command (a cron drain above all) pays for each
 * module it imports, and these are needed only by some runs (a terminal's progress bar, --metrics-file, a sync).
 * Import its types with `import type`; call the returned function where the module is used.
 */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireFromHere(name) as T);
}
