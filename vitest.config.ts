import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // tests/worker/ runs in this same Node pool: its tests start the Worker in workerd through
    // `wrangler dev` and call it over loopback (no separate Workers pool), and they run only with
    // DATABASE_URL (describe.runIf), in the Postgres pass.
    include: ['tests/**/*.test.ts'],
    exclude: ['node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: [],
    setupFiles: ['tests/setup/fast-check.ts'],
  },
})
