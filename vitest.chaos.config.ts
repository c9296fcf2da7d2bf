import { defineConfig } from 'vitest/config';

/**
 * The chaos suite (`npm run test:chaos`): scenarios that kill processes, stop the broker, raise alarms and
 * terminate database backends. They touch the machine's shared services, so the files run one at a time,
 * after the main suite, and every scenario restores what it broke in its own `finally`/`afterAll`.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
