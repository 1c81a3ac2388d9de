import { createHash } from 'node:crypto'
import { buildSafetensors, loraTensorsFor, seededBaseModels } from '../../src/compat'
import type { Harness } from './harness'

export type AdapterFile = { path: string; bytes: Uint8Array }

export function baseNamed(id: string) {
  const base = seededBaseModels.find((candidate) => candidate.id === id)
  if (!base) throw new Error(`no seeded base ${id}`)
  return base
}

/** A PEFT output folder as a training script writes it: config, weights and a README. */
export function peftFolder(options: { base: string; r?: number; modules?: string[]; layers?: number[]; declaredBase?: string }): AdapterFile[] {
  const base = baseNamed(options.base)
  const r = options.r ?? 4
  const modules = options.modules ?? ['self_attn.q_proj', 'self_attn.v_proj']
  const layers = options.layers ?? [0, 1, 2, 3]
  const tensors = loraTensorsFor(base, { r, modules, layers, dtype: 'F16' })
  const config = {
    peft_type: 'LORA',
    base_model_name_or_path: options.declaredBase ?? options.base,
    r,
    lora_alpha: r * 2,
    lora_dropout: 0.05,
    target_modules: modules.map((module) => module.split('.').at(-1)),
    layers_to_transform: layers,
    task_type: 'CAUSAL_LM',
  }
  return [
    { path: 'adapter_config.json', bytes: new TextEncoder().encode(JSON.stringify(config, null, 2)) },
    { path: 'adapter_model.safetensors', bytes: buildSafetensors(tensors, { format: 'pt' }) },
    { path: 'README.md', bytes: new TextEncoder().encode(`# A LoRA for ${options.base}\n`) },
  ]
}

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

export const declare = (files: AdapterFile[]) => files.map((file) => ({ path: file.path, size: file.bytes.length, sha256: sha256(file.bytes) }))

type Upload = { path: string; kind: 'single'; url: string; headers: Record<string, string> }

/** Creates a version, uploads its files through the returned URLs and completes it. */
export async function publishFolder(
  h: Harness,
  seller: { token: string; team: string },
  slug: string,
  version: string,
  files: AdapterFile[],
  options: { baseModel?: string; corrupt?: (file: AdapterFile) => Uint8Array; publish?: boolean } = {},
) {
  const created = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions`, {
    auth: seller.token,
    body: { version, baseModel: options.baseModel ?? 'meta-llama/Llama-2-7b-hf', changelog: 'First release', files: declare(files) },
  })
  if (created.status !== 201) throw new Error(`createVersion failed: ${created.status} ${created.text}`)
  for (const upload of created.json.uploads as Upload[]) {
    const file = files.find((candidate) => candidate.path === upload.path)
    if (!file) throw new Error(`no file for ${upload.path}`)
    const response = await h.put(upload.url, upload.headers, options.corrupt ? options.corrupt(file) : file.bytes)
    if (!response.ok && !options.corrupt) throw new Error(`upload of ${upload.path} failed: ${response.status} ${await response.text()}`)
  }
  const completed = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions/${version}/complete`, { auth: seller.token })
  await h.idle()
  const after = await h.call('GET', `/v1/adapters/${seller.team}/${slug}/versions/${version}`, { auth: seller.token })
  if (options.publish && after.json?.status === 'ready') {
    const published = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions/${version}/publish`, { auth: seller.token })
    return { created, completed, version: published.json }
  }
  return { created, completed, version: after.json }
}

/** A published listing with open text, owned by a fresh team. */
export async function createListing(h: Harness, seller: { token: string; team: string }, slug: string, extra: Record<string, unknown> = {}) {
  const response = await h.call('POST', '/v1/adapters', {
    auth: seller.token,
    body: {
      team: seller.team,
      slug,
      title: `Legal Chinese assistant ${slug}`,
      summary: 'Answers questions about contract law',
      tags: { task: ['chat'], domain: ['legal'], language: ['zh'] },
      license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
      visibility: 'published',
      ...extra,
    },
  })
  if (response.status !== 201) throw new Error(`createAdapter failed: ${response.text}`)
  return response.json
}
