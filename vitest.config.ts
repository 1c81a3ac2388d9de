import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // `refinery/client` (package.json "exports") resolves to its TypeScript source in the checkout,
  // as it does for tsc (tsconfig.json customConditions); the package ships dist/client/. The rest is
  // Vitest's default ("module" left out: it picks bundler-only builds, e.g. the AWS SDK's dist-es).
  ssr: { resolve: { conditions: ['refinery-source', ...defaultServerConditions.filter((condition) => condition !== 'module')] } },
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
