import { readFile } from 'node:fs/promises'
import { CliError } from './check'
import type { Output } from './progress'
import { call, type Remote } from './remote'

function splitId(id: string) {
  const [owner, name, ...rest] = id.split('/')
  if (!owner || !name || rest.length > 0) throw new CliError(`'${id}' is not a Hugging Face id such as meta-llama/Llama-2-7b-hf.`)
  return { owner, name }
}

/** `refinery base register <id> --config <config.json>`: pending for the team until an operator reviews it. */
export async function registerBase(remote: Remote, id: string, options: { config: string; team?: string; revision?: string }, out: Output) {
  let config: Record<string, unknown>
  try {
    config = JSON.parse(await readFile(options.config, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new CliError(`Cannot read ${options.config} as JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  const base = await call(
    remote.client.POST('/v1/base-models', {
      body: { id, config, ...(options.team && { team: options.team }), ...(options.revision && { revision: options.revision }) },
    }),
  )
  out.write(
    base.status === 'verified'
      ? `✔ ${base.id} registered and verified\n`
      : `✔ ${base.id} registered: pending review, usable by your team only until an operator verifies it\n`,
  )
  return base
}

/** `refinery base pending`: registrations waiting for review (operators). */
export async function listPendingBases(remote: Remote, out: Output) {
  const page = await call(remote.client.GET('/v1/base-models/pending', { params: { query: { limit: 100 } } }))
  if (page.items.length === 0) out.write('No registrations are waiting for review.\n')
  for (const item of page.items) {
    out.write(`${item.id}  ${item.modelType} ${item.numHiddenLayers}×${item.hiddenSize}  team ${item.team ?? '-'}  sha256 ${item.configSha256 ?? '-'}  ${item.registeredAt}\n`)
  }
  return page
}

/** `refinery base review <id> --verify | --reject | --merge-into <id>` (operators). */
export async function reviewBase(remote: Remote, id: string, decision: { decision: 'verify' | 'reject' | 'merge'; into?: string }, out: Output) {
  const result = await call(remote.client.POST('/v1/base-models/{owner}/{name}/review', { params: { path: splitId(id) }, body: decision }))
  out.write(`✔ ${result.id} ${result.status}${result.mergedInto ? ` into ${result.mergedInto}` : ''}\n`)
  return result
}
