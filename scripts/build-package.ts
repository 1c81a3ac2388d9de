/**
 * Builds what the package ships (`npm run build:package`, and `npm pack` through `prepack`):
 *
 * - `dist/cli/`: the `refinery` command, bundled by esbuild as the server is (`npm run build`),
 *   plain JavaScript that `bin/refinery.mjs` runs without a TypeScript loader. Split into chunks, so
 *   `refinery --help` loads none of the server: `serve` and `migrate` import it when they run.
 * - `dist/client/`: `refinery/client` as JavaScript, with its `.d.ts` from `tsc -p tsconfig.client.json`.
 *
 * Dependencies stay outside the bundles and come from the installing project's node_modules, except
 * postgres.js: `patches/postgres+3.4.9.patch` is applied in our node_modules by `postinstall`, never
 * in someone else's, so the patched copy is bundled into the CLI (its `serve`).
 * The build fails if a bundle imports a package that is not in `dependencies` (a dev dependency,
 * such as tsx, is missing after a production install).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { fileURLToPath } from 'node:url'
import { type BuildOptions, build, type Metafile } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { dependencies: Record<string, string> }
const dependencies = Object.keys(manifest.dependencies)
const BUNDLED = ['postgres']

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: dependencies.filter((name) => !BUNDLED.includes(name)).flatMap((name) => [name, `${name}/*`]),
  metafile: true,
  logLevel: 'warning',
} satisfies BuildOptions

export async function buildPackage() {
  rmSync(`${root}dist/cli`, { recursive: true, force: true })
  rmSync(`${root}dist/client`, { recursive: true, force: true })
  const [cli, client] = await Promise.all([
    build({ ...common, entryPoints: { main: 'src/cli/main.ts' }, outdir: 'dist/cli', splitting: true }),
    build({ ...common, entryPoints: { index: 'src/client/index.ts' }, outdir: 'dist/client' }),
  ])
  assertOnlyDependencies(cli.metafile)
  assertOnlyDependencies(client.metafile)
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.client.json'], { cwd: root, stdio: 'inherit' })
}

/** Every import left in the bundles is a Node built-in or a package from `dependencies`. */
function assertOnlyDependencies(metafile: Metafile) {
  const strays = new Set<string>()
  for (const output of Object.values(metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (!external || path.startsWith('node:') || builtinModules.includes(path)) continue
      const name = path.startsWith('@') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0]!
      if (!dependencies.includes(name)) strays.add(path)
    }
  }
  if (strays.size) throw new Error(`the package's bundles import what a production install lacks: ${[...strays].join(', ')}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPackage()
