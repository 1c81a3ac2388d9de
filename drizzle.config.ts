import { defineConfig } from 'drizzle-kit'

// drizzle-kit reads this file; it needs a default export.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
})
