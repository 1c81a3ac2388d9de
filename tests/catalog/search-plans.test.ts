import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapters } from '../../src/catalog/tables'
import { openDatabase, type DatabaseHandle } from '../../src/node/database'
import { createPostgresDatabase } from '../helpers/database'
import { createHarness, type Harness } from '../helpers/harness'

/**
 * Search runs as one statement with no `SET LOCAL plan_cache_mode` around it. That is only
 * safe while the statement stays unnamed: Postgres then plans it for the values of each call.
 * A named (prepared) one would switch to a generic plan after five runs, and a generic plan
 * estimated `compat_keys @> $1` for a rare key (142 ms instead of 2 ms at 100k listings).
 */
describe.skipIf(!process.env.DATABASE_URL)('search statements on Postgres', () => {
  let database: DatabaseHandle
  let drop: () => Promise<void>
  let h: Harness

  beforeAll(async () => {
    const fresh = await createPostgresDatabase(process.env.DATABASE_URL ?? '')
    drop = fresh.drop
    // One connection: the prepared statements looked at below are that session's.
    database = await openDatabase({ url: fresh.url, poolSize: 1 })
    await database.migrate()
    h = await createHarness({ db: database.db })
  })
  afterAll(async () => {
    await h.close()
    await database.close()
    await drop()
  })

  it('are never prepared, however often they run', async () => {
    for (let i = 0; i < 8; i++) {
      for (const path of ['/v1/adapters?q=legal', '/v1/adapters?base=meta-llama/Llama-2-7b-hf&runtime=vllm&sort=downloads', '/v1/adapters?tag=chat', '/v1/adapters']) {
        expect((await h.call('GET', path)).status).toBe(200)
      }
    }
    // postgres.js answers with the rows themselves (this suite runs on Postgres only).
    const prepared = (await database.db.execute(sql`select statement from pg_prepared_statements`)) as unknown as { statement: string }[]
    const statements = prepared.map((row) => row.statement)
    expect(statements.filter((statement) => statement.includes('"adapters"'))).toEqual([])

    // The same look would see a prepared one (the check is not blind).
    await database.db.select({ id: adapters.id }).from(adapters).where(eq(adapters.slug, 'probe')).prepare('probe_listings').execute()
    const after = (await database.db.execute(sql`select statement from pg_prepared_statements`)) as unknown as { statement: string }[]
    expect(after.filter((row) => row.statement.includes(`"adapters"`))).toHaveLength(1)
  })
})
