// The boundaries docs/architecture.md describes, checked by `npm run lint:deps` (a step of .ci/run).
// Domains are listed lowest first: a domain may use the ones before it, never the ones after,
// and only through their index.ts. Type-only imports may point anywhere (the `Deps` context
// type names every domain's services); they vanish from the build.
const domains = ['compat', 'identity', 'storage', 'registry', 'catalog', 'publishing', 'commerce', 'downloads', 'search', 'compat-api', 'hub', 'web']
const any = `(${domains.join('|')})`

const layering = domains.slice(0, -1).map((domain, i) => ({
  name: `layers-${domain}`,
  comment: `${domain} may not use the domains after it: ${domains.slice(i + 1).join(', ')}`,
  severity: 'error',
  from: { path: `^src/${domain}/` },
  to: { path: `^src/(${domains.slice(i + 1).join('|')})/`, dependencyTypesNot: ['type-only'] },
}))

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles (type-only imports aside)',
      severity: 'error',
      from: { path: '^(src|workers)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    ...layering,
    {
      name: 'domain-through-index',
      comment: "A domain uses another domain only through that domain's index.ts",
      severity: 'error',
      from: { path: `^src/${any}/` },
      to: { path: `^src/${any}/`, pathNot: ['^src/$1/', `^src/${any}/index\\.ts$`] },
    },
    {
      name: 'kernel-below-domains',
      comment: 'src/lib and src/db are used by every domain and use none (nor the app that composes them)',
      severity: 'error',
      from: { path: '^src/(lib|db)/', pathNot: '^src/db/schema\\.ts$' },
      to: { path: `^src/(${any}|node|cli|[^/]+\\.tsx?$)`, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'compat-is-pure',
      comment: 'The compatibility engine does no I/O: it imports nothing outside src/compat but src/lib/text.ts, no package and no runtime module',
      severity: 'error',
      from: { path: '^src/compat/' },
      to: { pathNot: ['^src/compat/', '^src/lib/text\\.ts$'] },
    },
    {
      name: 'node-only-modules',
      comment: 'Only src/node, src/cli (and scripts, bench, tests) use Node built-ins or Node-only packages; sigv4 uses node:crypto, which workerd provides under nodejs_compat',
      severity: 'error',
      from: { path: '^(src|workers)/', pathNot: ['^src/(node|cli)/', '^src/storage/sigv4\\.ts$'] },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'node-only-packages',
      comment: 'The Node server, PGlite and the CLI\'s terminal packages stay out of the code workerd runs',
      severity: 'error',
      from: { path: '^(src|workers)/', pathNot: '^src/(node|cli)/' },
      to: { path: 'node_modules/(@hono/node-server|@electric-sql/pglite|env-paths|cli-progress)/' },
    },
    {
      name: 'sigv4-node-crypto-only',
      comment: 'The one exception above is node:crypto',
      severity: 'error',
      from: { path: '^src/storage/sigv4\\.ts$' },
      to: { dependencyTypes: ['core'], pathNot: '^crypto$' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/client/openapi\\.ts$' },
    enhancedResolveOptions: { conditionNames: ['refinery-source', 'import', 'require', 'node', 'default'] },
  },
}
