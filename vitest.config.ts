import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/workers/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: [],
    setupFiles: ['tests/setup/fast-check.ts'],
  },
})
