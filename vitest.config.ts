import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // geoip-lite loads ~150 MB of data per worker; two cores, so two workers.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 20_000,
  },
});
