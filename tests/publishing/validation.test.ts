import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions } from '../../src/publishing/tables'
import { ApiError } from '../../src/lib/errors'
import { resumeValidations, validateVersion } from '../../src/publishing'
import { HEADER_PROBE_BYTES } from '../../src/publishing/validate'
import { createLocalStore } from '../../src/node/local-store'
import type { ObjectStore } from '../../src/storage/types'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { countingStore } from '../helpers/counting-store'
import { createHarness, type Harness } from '../helpers/harness'

const ALL_MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']
const headerLength = (bytes: Uint8Array) => Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))

describe('the validation pipeline', () => {
  let h: Harness
  let root: string
  let counted: ReturnType<typeof countingStore>
  /** Storage reads fail while this is above zero (an outage), each failing read counting it down. */
  let outage = 0
  let seller: Awaited<ReturnType<Harness['teamOwner']>>

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'refinery-validation-'))
    counted = countingStore(createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: new Uint8Array(32).fill(9) }))
    const flaky: ObjectStore = Object.assign(Object.create(counted.store) as ObjectStore, {
      async getRange(key: string, start: number, end: number) {
        if (outage > 0) {
          outage -= 1
          throw new ApiError('storage_unavailable', 'Object storage is unavailable right now.')
        }
        return counted.store.getRange(key, start, end)
      },
    })
    h = await createHarness({ store: flaky })
    seller = await h.teamOwner('validator')
  })
  afterAll(async () => {
    await h.close()
    await rm(root, { recursive: true, force: true })
  })

  it('reads the weights header with one 64 KiB ranged read, then streams the file exactly once (fingerprint and checksum together)', async () => {
    await createListing(h, seller, 'full-lora')
    // All 7 modules × 32 layers at r=2: 448 tensors, a ~60 KB header and ~10 MB of weights.
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 2, modules: ALL_MODULES, layers: [...Array(32).keys()] })
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    const { version } = await publishFolder(h, seller, 'full-lora', '1.0.0', files)
    expect(version.status).toBe('ready')
    expect(version.lora).toMatchObject({ rank: 2 })

    const read = counted.readOf('/adapter_model.safetensors')
    expect(weights.bytes.length).toBeGreaterThan(10_000_000)
    expect(headerLength(weights.bytes)).toBeLessThan(HEADER_PROBE_BYTES)
    expect(read).toBe(HEADER_PROBE_BYTES + weights.bytes.length)
  })

  it('survives a storage outage midway: the version stays validating, and a resumed run finishes it', async () => {
    await createListing(h, seller, 'outage')
    outage = 2 // both attempts of the in-process queue fail
    const { version } = await publishFolder(h, seller, 'outage', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    expect(version.status).toBe('validating')
    expect(outage).toBe(0)

    // What a restart does: every version left in validating is queued again.
    expect(await resumeValidations(h.deps)).toBe(1)
    await h.idle()
    const after = await h.call('GET', `/v1/adapters/${seller.team}/outage/versions/1.0.0`, { auth: seller.token })
    expect(after.json.status).toBe('ready')
    expect(after.json.compatibleBases).toContain('meta-llama/Llama-2-7b-hf')

    // Running it again changes nothing: the verdict is written once.
    const [row] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.id, after.json.id))
    await validateVersion(h.deps, row!.id)
    const [again] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.id, row!.id))
    expect(again).toEqual(row)
    expect(await resumeValidations(h.deps)).toBe(0)
  })
})
