import { defineConfig } from 'vitest/config';

/**
 * The unit tests alone, for mutation testing (`npm run test:mutation`): none of them needs RabbitMQ, PostgreSQL or
 * the built binary, so Stryker can run them thousands of times against mutated sources in its sandbox.
 * `exit-codes.test.ts` is left out: it spawns `bin/exchange.js` (the built `dist/`, which Stryker never mutates).
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/exit-codes.test.ts', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
    reporters: ['default'],
  },
});
