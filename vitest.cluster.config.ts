import { defineConfig } from 'vitest/config';

/**
 * The cluster suite (`npm run test:cluster`): it starts three RabbitMQ nodes of its own beside the shared broker
 * (scripts/cluster.sh, ports 5681..5683), stops one of them on purpose and stops them all in `afterAll` and on
 * process exit. About 450 MB and most of two cores while it runs, so it runs alone, one file at a time.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 360_000,
    reporters: ['default'],
  },
});
