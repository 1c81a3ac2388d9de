import postgres from 'postgres'

type Env = { HYPERDRIVE: { connectionString: string } }

/**
 * The yardstick for reads on workerd: one indexed SELECT through the same Hyperdrive binding, with
 * a Postgres client per request as Refinery opens one (Workers cannot share sockets between requests).
 */
export default {
  async fetch(request: Request, env: Env, ctx: { waitUntil(promise: Promise<unknown>): void }) {
    const sql = postgres(env.HYPERDRIVE.connectionString, { max: 1, fetch_types: false, prepare: true })
    try {
      const rows = await sql`select id, slug, title from adapters where slug = ${new URL(request.url).searchParams.get('slug') ?? 'legal-zh'} limit 1`
      return Response.json(rows)
    } finally {
      ctx.waitUntil(sql.end({ timeout: 5 }))
    }
  },
}
