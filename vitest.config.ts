import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos suite stops the broker and raises alarms: it runs alone (`npm run test:chaos`).
    // The cluster suite starts RabbitMQ nodes of its own: it runs alone too (`npm run test:cluster`).
    exclude: ['test/chaos/**', 'test/cluster/**', 'node_modules/**'],
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: a few files at a time keep the broker's timings honest.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
