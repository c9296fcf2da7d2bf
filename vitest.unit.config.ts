import fs from 'node:fs';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Smallest test files first. Stryker stops a mutant's run at the first failing test (bail), so the quick, focused
 * files should get their chance before the slow ones that read every real 1C file.
 */
class SmallFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const size = (spec: TestSpecification) => fs.statSync(spec.moduleId).size;
    return [...files].sort((a, b) => size(a) - size(b));
  }
}

/**
 * The unit tests alone, for mutation testing (`npm run test:mutation`): none of them needs RabbitMQ, PostgreSQL or
 * the built binary, so Stryker can run them thousands of times against mutated sources in its sandbox.
 * `exit-codes.test.ts` is left out: it spawns `bin/exchange.js` (the built `dist/`, which Stryker never mutates).
 */
// Stryker runs the tests in worker threads, where assigning process.env.TZ changes nothing: the whole run sits in a
// zone far from UTC instead, so that a date read in the process's zone (rather than UTC or import.timeZone) shows.
process.env.TZ = 'Asia/Tokyo';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/exit-codes.test.ts', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
    sequence: { sequencer: SmallFilesFirst },
    reporters: ['default'],
  },
});
