import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests open real sockets and spawn the CLI; two workers match the 2-core CI box.
    maxWorkers: 2,
  },
});
