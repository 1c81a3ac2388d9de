import { beforeAll, expect, it } from 'vitest'
import { type BaseModel, baseModelFromHfConfig } from '../../src/compat'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { describeOracle, runPython } from '../helpers/python'
import { nativeBases } from './bases'

/**
 * Registry facts (shared/data/base-models.json) and Refinery's config.json derivation
 * (baseModelFromHfConfig) against what transformers builds from the same config.json: sizes,
 * every linear module of a layer, the embedding, the head and whether it is tied.
 */
type Facts = {
  modelType: string
  hiddenSize: number
  numHiddenLayers: number
  numAttentionHeads: number
  numKeyValueHeads: number | null
  headDim: number
  vocabSize: number
  modules: Record<string, [number, number]>
  embed: { module: string; shape: [number, number] }
  lmHead: { module: string; shape: [number, number]; tied: boolean }
}

/** The facts of a Refinery base in the oracle's form; vocabulary left out where not verified. */
function refineryFacts(base: BaseModel): Partial<Facts> {
  return {
    modelType: base.modelType,
    hiddenSize: base.hiddenSize,
    numHiddenLayers: base.numHiddenLayers,
    numAttentionHeads: base.numAttentionHeads,
    numKeyValueHeads: base.numKeyValueHeads,
    headDim: base.headDim,
    modules: base.modules,
    ...(base.vocabSize === null ? {} : { vocabSize: base.vocabSize }),
    embed: { module: base.embed.module, shape: [base.embed.shape[0] ?? -1, base.embed.shape[1]] },
    lmHead: { module: base.lmHead.module, shape: [base.lmHead.shape[0] ?? -1, base.lmHead.shape[1]], tied: base.lmHead.tied },
  }
}

function comparable(facts: Facts, base: BaseModel): Partial<Facts> {
  const { vocabSize, ...rest } = facts
  const unknownVocab = base.vocabSize === null
  return {
    ...rest,
    ...(unknownVocab ? {} : { vocabSize }),
    embed: { module: facts.embed.module, shape: [unknownVocab ? -1 : facts.embed.shape[0], facts.embed.shape[1]] },
    lmHead: { ...facts.lmHead, shape: [unknownVocab ? -1 : facts.lmHead.shape[0], facts.lmHead.shape[1]] },
  }
}

describeOracle('registry facts against transformers', () => {
  let built: Record<string, Facts>

  beforeAll(async () => {
    const bases = Object.fromEntries(nativeBases.map((base) => [base.id, { config: hfConfigs[base.id], layerPrefix: base.layerPrefix }]))
    built = await runPython<Record<string, Facts>>('tests/oracle/registry_facts.py', { bases })
  }, 300_000)

  it('covers the registry bases transformers implements natively', () => {
    expect(nativeBases.map((base) => base.id).sort()).toEqual(Object.keys(built).sort())
    expect(nativeBases).toHaveLength(18)
  })

  it.each(nativeBases.map((base) => [base.id, base] as const))('%s: the registry row matches the model transformers builds', (id, base) => {
    const facts = built[id]
    if (!facts) throw new Error(`no facts for ${id}`)
    expect(refineryFacts(base)).toEqual(comparable(facts, base))
  })

  it.each(nativeBases.map((base) => [base.id, base] as const))('%s: baseModelFromHfConfig matches the model transformers builds', (id, base) => {
    const facts = built[id]
    if (!facts) throw new Error(`no facts for ${id}`)
    expect(refineryFacts(baseModelFromHfConfig(id, hfConfigs[id]))).toEqual(comparable(facts, base))
  })
})
