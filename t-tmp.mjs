import { readFileSync } from 'node:fs'
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
const { PGlite } = await import('@electric-sql/pglite')
const c = await PGlite.create(process.argv[2], { postgresqlconf: ['shared_buffers=16MB'] })
let t = performance.now()
for (let i = 0; i < 200; i++) await c.query("select * from users u left join team_members m on m.user_id = u.id where u.email = $1", ['x' + i])
const q = (performance.now() - t) / 200
globalThis.gc?.()
console.log(process.execArgv.join(' ') || '(none)', 'rss', rss().toFixed(0), 'hwm', hwm().toFixed(0), 'query ms', q.toFixed(2))
await c.close()
