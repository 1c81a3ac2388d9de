import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // `refinery/client` (package.json "exports") resolves to its TypeScript source in the checkout,
  // as it does for tsc (tsconfig.json customConditions); the package ships dist/client/. The rest is
  // Vitest's default ("module" left out: it picks bundler-only builds, e.g. the AWS SDK's dist-es).
  ssr: { resolve: { conditions: ['refinery-source', ...defaultServerConditions.filter((condition) => condition !== 'module')] } },
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/workers/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: [],
    setupFiles: ['tests/setup/fast-check.ts'],
  },
})
