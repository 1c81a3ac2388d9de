import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { CompatReport } from '../compat'
import { listPendingBases, registerBase, reviewBase } from './bases'
import { CliError, checkFolder, isInputError } from './check'
import { type Input, login, logout } from './login'
import { buy, type SearchQuery, search } from './market'
import type { Output } from './progress'
import { publish } from './publish'
import { createAdapter, createOffer, createTeam, decideInvitation, inviteMember, listInvitations, listOffers, minorUnits, updateOffer } from './seller'
import { pull } from './pull'
import { asCliError, type Env, remoteFrom } from './remote'

const USAGE = `refinery — the Refinery marketplace from a terminal

  refinery login [--url <api>] [--email <email> | --api-key <key>]
      Stores a credential for the other commands (mode 0600 in your config folder). Without
      --api-key the key (or, with --email, the password) is read from standard input.
  refinery signup --email <email> --name <name> [--url <api>]     (the password on standard input)
  refinery logout

  refinery team create <slug> [--name <name>]
  refinery team invite <team> <email> [--role member|admin|owner]     (they join when they accept)
  refinery team invitations | team accept <id> | team decline <id>     (invitations addressed to you)
  refinery adapter create <team/slug> --title <title> --license <SPDX id> [--license-file <file>]
                  [--commercial] [--derivatives] [--summary <text>] [--description <README.md>]
                  [--task chat,…] [--domain legal,…] [--language zh,…] [--visibility draft|published|unlisted]
  refinery offer create <team/slug> (--free | --on-request | --price 49.00 --currency usd)
                  --license research|commercial
  refinery offer list <team/slug>
  refinery offer update <team/slug> <offer id> [--price 59.00 [--currency usd]] [--withdraw | --restore]
      A new one-time price applies to new checkouts; buyers who hold a licence keep it.
      Prices are in the currency's major unit (49.90 is $49.90), here and in search --max-price.

  refinery base register <owner/name> --config <config.json> [--team <team>] [--revision <rev>]
      Registers a base model for your team: pending (usable by the team only) until reviewed.
  refinery base pending                                    (operators) registrations to review
  refinery base review <owner/name> (--verify | --reject | --merge-into <owner/name>)   (operators)

  refinery check <peft-folder> --base <hf-id | config.json> [--json]
      Does this adapter load on this base model, and on which serving engines? Offline: reads
      adapter_config.json and only the header of the .safetensors file.
      Exit code 0 compatible, 1 incompatible, 2 error.

  refinery publish <peft-folder> --adapter <team/slug> --version <semver>
                   [--base <id>] [--changelog <text>] [--evals <evals.json>] [--publish] [--wait <seconds>]
      Hashes and uploads the folder as a new version, waits for validation, shows the verdict;
      --publish makes a ready version visible. Exit code 0 ready, 1 rejected, 2 error.

  refinery search [words…] [--base <id>] [--runtime vllm|lorax|tgi|llamacpp] [--tag <tag>]
                  [--license <spdx>] [--commercial] [--max-price 50.00 [--currency usd]]
                  [--sort relevance|newest|downloads|rating] [--limit <n>] [--cursor <c>] [--json]

  refinery buy <team/slug> [--offer <id>] [--team <team>] [--message <text>]
      Claims a free offer, files an access request, or prints the checkout URL to pay at.

  refinery pull <team/slug[@version]> [--dir <folder>] [--force]
      Downloads every file of a version you are entitled to (without @version: the newest
      published one) into ./<slug>-<version>/ or --dir: resumes after an interruption, skips
      files already there with the same sha256, verifies each sha256, and only then puts the
      file under its name. A different file already under that name is never replaced
      without --force.

  refinery serve      the embedded API server (as npm start; configured by the environment)
  refinery migrate    applies database migrations (as npm run migrate)

The API is REFINERY_URL (default http://localhost:8787, or the one you logged in to); the
credential is REFINERY_API_KEY, or the one login stored.
`

export type Io = { out: Output; err: Output; fetch: typeof fetch; env: Env; stdin: Input; cwd: string }

const commands: Record<string, { options: NonNullable<ParseArgsConfig['options']>; run(args: Args, io: Io): Promise<number> }> = {
  login: {
    options: { url: { type: 'string' }, email: { type: 'string' }, 'api-key': { type: 'string' } },
    async run({ values }, io) {
      await login(io, { url: str(values.url), email: str(values.email), apiKey: str(values['api-key']) })
      return 0
    },
  },
  signup: {
    options: { url: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' } },
    async run({ values }, io) {
      const email = str(values.email)
      const name = str(values.name)
      if (!email || !name) throw new CliError('Usage: refinery signup --email <email> --name <your name> (the password on standard input)')
      await login(io, { url: str(values.url), email, signup: { name } })
      return 0
    },
  },
  logout: {
    options: {},
    async run(_, io) {
      await logout(io)
      return 0
    },
  },
  check: {
    options: { base: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals }, io) {
      const base = str(values.base)
      if (!positionals[0] || !base) throw new CliError('Usage: refinery check <peft-folder> --base <hf-id | config.json> [--json]')
      const report = await checkFolder(positionals[0], base)
      io.out.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : render(report))
      return report.compatible ? 0 : 1
    },
  },
  publish: {
    options: {
      adapter: { type: 'string' },
      version: { type: 'string' },
      base: { type: 'string' },
      changelog: { type: 'string' },
      evals: { type: 'string' },
      publish: { type: 'boolean' },
      wait: { type: 'string' },
    },
    async run({ values, positionals }, io) {
      const adapter = str(values.adapter)
      const version = str(values.version)
      if (!positionals[0] || !adapter || !version) {
        throw new CliError('Usage: refinery publish <peft-folder> --adapter <team/slug> --version <semver> [--publish]')
      }
      const result = await publish(await remoteFrom(io.env, io.fetch), {
        folder: positionals[0],
        adapter,
        version,
        base: str(values.base),
        changelog: str(values.changelog),
        evals: str(values.evals),
        publish: values.publish === true,
        waitSeconds: values.wait === undefined ? undefined : number(values.wait, '--wait'),
        out: io.out,
        log: io.err,
      })
      return result.status === 'rejected' ? 1 : result.status === 'ready' || result.status === 'published' ? 0 : 2
    },
  },
  base: {
    options: {
      config: { type: 'string' },
      team: { type: 'string' },
      revision: { type: 'string' },
      verify: { type: 'boolean' },
      reject: { type: 'boolean' },
      'merge-into': { type: 'string' },
    },
    async run({ values, positionals }, io) {
      const [action, id] = positionals
      const remote = await remoteFrom(io.env, io.fetch)
      if (action === 'register' && id && str(values.config)) {
        await registerBase(remote, id, { config: str(values.config) ?? '', team: str(values.team), revision: str(values.revision) }, io.out)
        return 0
      }
      if (action === 'pending') {
        await listPendingBases(remote, io.out)
        return 0
      }
      const into = str(values['merge-into'])
      const chosen = [values.verify === true, values.reject === true, into !== undefined].filter(Boolean).length
      if (action === 'review' && id && chosen === 1) {
        const decision = values.verify ? { decision: 'verify' as const } : values.reject ? { decision: 'reject' as const } : { decision: 'merge' as const, into }
        await reviewBase(remote, id, decision, io.out)
        return 0
      }
      throw new CliError('Usage: refinery base register <owner/name> --config <config.json> [--team <team>] [--revision <rev>] | base pending | base review <owner/name> (--verify | --reject | --merge-into <owner/name>)')
    },
  },
  team: {
    options: { name: { type: 'string' }, role: { type: 'string' } },
    async run({ values, positionals }, io) {
      const [action, first, second] = positionals
      if (action === 'create' && first) {
        await createTeam(await remoteFrom(io.env, io.fetch), first, str(values.name), io.out)
      } else if (action === 'invite' && first && second) {
        const role = str(values.role) ?? 'member'
        if (role !== 'member' && role !== 'admin' && role !== 'owner') throw new CliError('--role is member, admin or owner.')
        await inviteMember(await remoteFrom(io.env, io.fetch), first, second, role, io.out)
      } else if (action === 'invitations') {
        await listInvitations(await remoteFrom(io.env, io.fetch), io.out)
      } else if ((action === 'accept' || action === 'decline') && first) {
        await decideInvitation(await remoteFrom(io.env, io.fetch), first, action, io.out)
      } else {
        throw new CliError('Usage: refinery team create <slug> [--name <name>] | team invite <team> <email> [--role <role>] | team invitations | team accept|decline <id>')
      }
      return 0
    },
  },
  adapter: {
    options: {
      title: { type: 'string' },
      summary: { type: 'string' },
      description: { type: 'string' },
      license: { type: 'string' },
      'license-file': { type: 'string' },
      commercial: { type: 'boolean' },
      derivatives: { type: 'boolean' },
      task: { type: 'string' },
      domain: { type: 'string' },
      language: { type: 'string' },
      visibility: { type: 'string' },
    },
    async run({ values, positionals }, io) {
      const title = str(values.title)
      if (positionals[0] !== 'create' || !positionals[1] || !title) {
        throw new CliError('Usage: refinery adapter create <team/slug> --title <title> --license <SPDX id> [--commercial] [--derivatives] …')
      }
      const options = {
        title,
        summary: str(values.summary),
        descriptionFile: str(values.description),
        license: str(values.license),
        licenseFile: str(values['license-file']),
        commercial: values.commercial === true,
        derivatives: values.derivatives === true,
        task: str(values.task),
        domain: str(values.domain),
        language: str(values.language),
        visibility: str(values.visibility) as 'draft' | undefined,
      }
      await createAdapter(await remoteFrom(io.env, io.fetch), positionals[1], options, io.out)
      return 0
    },
  },
  offer: {
    options: {
      free: { type: 'boolean' },
      'on-request': { type: 'boolean' },
      price: { type: 'string' },
      currency: { type: 'string' },
      license: { type: 'string' },
      withdraw: { type: 'boolean' },
      restore: { type: 'boolean' },
    },
    async run({ values, positionals }, io) {
      const [action, ref, offerId] = positionals
      if (action === 'list' && ref) {
        await listOffers(await remoteFrom(io.env, io.fetch, { auth: false }), ref, io.out)
        return 0
      }
      if (action === 'update' && ref && offerId && !(values.withdraw && values.restore)) {
        const active = values.withdraw ? false : values.restore ? true : undefined
        await updateOffer(await remoteFrom(io.env, io.fetch), ref, offerId, { price: str(values.price), currency: str(values.currency), active }, io.out)
        return 0
      }
      const license = str(values.license) as 'research' | 'commercial' | undefined
      if (action !== 'create' || !positionals[1] || (license !== 'research' && license !== 'commercial')) {
        throw new CliError('Usage: refinery offer create <team/slug> (--free | --on-request | --price <amount> --currency <code>) --license research|commercial')
      }
      const options = { free: values.free === true, onRequest: values['on-request'] === true, price: str(values.price), currency: str(values.currency), license }
      await createOffer(await remoteFrom(io.env, io.fetch), positionals[1], options, io.out)
      return 0
    },
  },
  search: {
    options: {
      base: { type: 'string' },
      runtime: { type: 'string' },
      tag: { type: 'string' },
      license: { type: 'string' },
      commercial: { type: 'boolean' },
      'max-price': { type: 'string' },
      currency: { type: 'string' },
      sort: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run({ values, positionals }, io) {
      // openapi-fetch leaves out parameters that are undefined.
      const query = {
        q: positionals.join(' ') || undefined,
        base: str(values.base),
        runtime: str(values.runtime) as SearchQuery['runtime'],
        tag: str(values.tag),
        license: str(values.license),
        commercial: values.commercial === true ? true : undefined,
        maxPrice: str(values['max-price']) === undefined ? undefined : minorUnits(str(values['max-price'])!, '--max-price'),
        currency: str(values.currency),
        sort: str(values.sort) as SearchQuery['sort'],
        limit: values.limit === undefined ? undefined : number(values.limit, '--limit'),
        cursor: str(values.cursor),
      }
      await search(await remoteFrom(io.env, io.fetch, { auth: false }), query, io.out, values.json === true)
      return 0
    },
  },
  buy: {
    options: { offer: { type: 'string' }, team: { type: 'string' }, message: { type: 'string' } },
    async run({ values, positionals }, io) {
      if (!positionals[0]) throw new CliError('Usage: refinery buy <team/slug> [--offer <id>] [--team <team>] [--message <text>]')
      const options = { offer: str(values.offer), team: str(values.team), message: str(values.message) }
      await buy(await remoteFrom(io.env, io.fetch), positionals[0], options, io.out)
      return 0
    },
  },
  pull: {
    options: { dir: { type: 'string' }, force: { type: 'boolean' } },
    async run({ values, positionals }, io) {
      if (!positionals[0]) throw new CliError('Usage: refinery pull <team/slug[@version]> [--dir <folder>] [--force]')
      const options = { dir: str(values.dir), cwd: io.cwd, force: values.force === true, log: io.err }
      for (const file of await pull(await remoteFrom(io.env, io.fetch), positionals[0], options)) {
        io.out.write(`✔ ${file.path}${file.skipped ? ' (already complete)' : ''}\n`)
      }
      return 0
    },
  },
  serve: {
    options: {},
    async run() {
      await import('../node/main')
      return 0
    },
  },
  migrate: {
    options: {},
    async run() {
      await import('../node/migrate-cli')
      return 0
    },
  },
}

type Args = { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] }
const str = (value: Args['values'][string]) => (typeof value === 'string' ? value : undefined)
function number(value: Args['values'][string], flag: string) {
  const parsed = Number(value)
  if (typeof value !== 'string' || !Number.isFinite(parsed)) throw new CliError(`${flag} takes a number.`)
  return parsed
}

/** Runs the CLI; returns the exit code. Output, input, the network and the environment are injectable for tests. */
export async function main(argv: string[], io: Partial<Io> = {}): Promise<number> {
  const full: Io = { out: process.stdout, err: process.stderr, fetch: (...args) => fetch(...args), env: {}, stdin: process.stdin, cwd: process.cwd(), ...io }
  const [name, ...rest] = argv
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    full.out.write(USAGE)
    return name ? 0 : 2
  }
  const command = commands[name]
  if (!command) {
    full.err.write(`Unknown command '${name}'.\n\n${USAGE}`)
    return 2
  }
  try {
    return await command.run(parseArgs({ args: rest, allowPositionals: true, options: command.options, strict: true }), full)
  } catch (caught) {
    const where = rest.some((arg) => arg === '--url' || arg.startsWith('--url='))
      ? '--url'
      : full.env.REFINERY_URL
        ? 'REFINERY_URL'
        : 'the URL you logged in to (refinery login --url), or REFINERY_URL'
    const error = asCliError(caught, where)
    const code = (error as { code?: unknown }).code
    if (isInputError(error) || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      full.err.write(`error${typeof code === 'string' && !code.startsWith('ERR_') ? ` (${code})` : ''}: ${(error as Error).message}\n`)
      return 2
    }
    throw error
  }
}

function render(report: CompatReport): string {
  const lines = [`${report.compatible ? '✔ compatible' : '✘ incompatible'} with ${report.base}`]
  if (report.twins.length > 0) lines.push(`  also fits: ${report.twins.join(', ')}`)
  if (report.declaredBase.value) {
    lines.push(`  declared base: ${report.declaredBase.value}${report.declaredBase.matches === false ? ' (does not match)' : ''}`)
  }
  const findings = report.checks.filter((check) => check.severity !== 'info')
  if (findings.length > 0) {
    lines.push('', 'severity  code                      tensor / message')
    for (const finding of findings) {
      lines.push(`${finding.severity.padEnd(9)} ${finding.code.padEnd(25)} ${finding.tensor ?? ''}`)
      lines.push(`${' '.repeat(36)}${finding.message}`)
      if (finding.expected !== undefined) lines.push(`${' '.repeat(36)}expected ${JSON.stringify(finding.expected)}, got ${JSON.stringify(finding.actual)}`)
    }
  }
  lines.push('', 'engine    loads  why not / notes')
  for (const [engine, verdict] of Object.entries(report.runtimes)) {
    lines.push(`${engine.padEnd(9)} ${(verdict.compatible ? 'yes' : 'no').padEnd(6)} ${[...verdict.reasons, ...(verdict.notes ?? [])].join('; ')}`)
  }
  return `${lines.join('\n')}\n`
}
