import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: a few files at a time keep the broker's timings honest.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
