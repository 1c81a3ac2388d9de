import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AdapterConfig,
  analyzeAdapter,
  baseModelFromHfConfig,
  type BaseModel,
  buildSafetensorsHeader,
  checkAgainstBase,
  CompatInputError,
  DTYPE_BITS,
  isDtype,
  loraTensorsFor,
  MAX_HEADER_SIZE,
  MAX_TENSORS,
  parseAdapterConfig,
  patternValue,
  readSafetensorsHeader,
  type SafetensorsHeader,
  seededBaseModels,
  targetsModule,
  validateHeaderObject,
} from '../../src/compat'
import { hfConfigs, phi2LegacyConfig, unslothLlama3Config } from '../compat/fixtures/hf-configs'
import { baseNamed } from '../helpers/adapters'
import { concat, fileOf, pathsIn, runs, setAt, textOf } from './common'
import { byteMutation, FILES, FOLDERS, headerText, jsonMutation, parsedTokens, withHeaderText } from './safetensors-inputs'

/**
 * The compat readers on random and mutated input: each either returns a result that keeps its
 * invariants or throws a CompatInputError with one of its stable codes; never another exception,
 * never a hang (a hang fails the test on vitest's timeout). The bombs are asserted one by one.
 * tests/compat/safetensors.property.test.ts already covers random valid files, flipped header
 * bytes, random short byte strings and truncated prefixes; this file mutates real PEFT files
 * structurally (splices, lengths, sizes, JSON values) and fuzzes both config parsers.
 */

const SAFETENSORS_CODES = ['pickle_rejected', 'unsupported_format', 'invalid_safetensors', 'header_too_large', 'incomplete_header']

/** The typed error a reader threw, failing the test on any other exception. */
function typedError(run: () => unknown, codes: string[]): CompatInputError | undefined {
  try {
    run()
    return undefined
  } catch (error) {
    if (!(error instanceof CompatInputError)) throw new Error(`expected a CompatInputError, got ${String(error)}`, { cause: error })
    expect(codes).toContain(error.code)
    return error
  }
}

function expectError(run: () => unknown, code: string, extra: Record<string, unknown> = {}): CompatInputError {
  const error = typedError(run, [code])
  expect(error, `expected ${code}`).toBeDefined()
  expect(error?.extra ?? {}).toMatchObject(extra)
  return error as CompatInputError
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** What an accepted header guarantees, and that the analysis and a check run on it. */
function expectSoundHeader(header: SafetensorsHeader, fileSize: number): void {
  let offset = 0
  for (const tensor of header.tensors) {
    expect(isDtype(tensor.dtype)).toBe(true)
    for (const dim of tensor.shape) expect(Number.isSafeInteger(dim) && dim >= 0).toBe(true)
    expect(tensor.dataOffsets[0]).toBe(offset)
    const bits = tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BITS[tensor.dtype]
    expect(tensor.dataOffsets[1] - tensor.dataOffsets[0]).toBe(bits / 8)
    expect(CONTROL.test(tensor.name)).toBe(false)
    offset = tensor.dataOffsets[1]
  }
  expect(header.headerBytes + offset).toBe(fileSize)
  expect(new Set(header.tensors.map((tensor) => tensor.name)).size).toBe(header.tensors.length)
  for (const value of Object.values(header.metadata)) expect(typeof value).toBe('string')
  // Stored as jsonb by validation: Postgres refuses U+0000 anywhere in it.
  expect(JSON.stringify(header)).not.toContain('\\u0000')
  const analysis = analyzeAdapter(header)
  expect(analysis.tensorCount).toBe(header.tensors.length)
  const report = checkAgainstBase(analysis, header, baseNamed('meta-llama/Llama-2-7b-hf'))
  expect(typeof report.compatible).toBe('boolean')
}

describe('safetensors reader on mutated real files', () => {
  it('answers any structural mutation with a sound header or a typed error', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FILES), fc.array(fc.oneof(byteMutation, jsonMutation), { minLength: 1, maxLength: 3 }), (file, mutations) => {
        let bytes: Uint8Array = file
        let fileSize = file.length
        for (const mutation of mutations) ({ bytes, fileSize } = mutation(bytes.length >= 8 ? bytes : file))
        let header: SafetensorsHeader | undefined
        typedError(() => {
          header = readSafetensorsHeader(bytes, fileSize)
        }, SAFETENSORS_CODES)
        if (header) expectSoundHeader(header, fileSize)
      }),
      { numRuns: runs(2000) },
    )
  })

  it('validates parsed header objects (an API body) with the same guarantees', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FILES.slice(0, 4)), fc.nat(), fc.oneof(fc.jsonValue({ maxDepth: 3 }), parsedTokens), (file, pick, value) => {
        const root = JSON.parse(headerText(file))
        const paths = pathsIn(root)
        const mutated = setAt(root, paths[pick % paths.length] ?? [], value)
        let header: SafetensorsHeader | undefined
        typedError(() => {
          header = validateHeaderObject(mutated)
        }, ['invalid_safetensors'])
        if (header) expectSoundHeader(header, header.tensors.at(-1)?.dataOffsets[1] ?? 0)
      }),
      { numRuns: runs(1000) },
    )
  })
})

describe('safetensors bombs', () => {
  const lengthPrefix = (length: bigint) => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, length, true)
    return bytes
  }

  it('judges a header length from the 8-byte prefix alone, before reading or allocating the header', () => {
    // 100 MB exactly is the official limit: the reader asks for the bytes instead of guessing.
    const atLimit = expectError(() => readSafetensorsHeader(lengthPrefix(BigInt(MAX_HEADER_SIZE)), 2 * MAX_HEADER_SIZE), 'incomplete_header')
    expect(atLimit.extra?.needBytes).toBe(MAX_HEADER_SIZE + 8)
    // One byte more, or a length near 2^64, is refused from the 8 bytes: nothing else was given.
    expectError(() => readSafetensorsHeader(lengthPrefix(BigInt(MAX_HEADER_SIZE + 1)), 2 * MAX_HEADER_SIZE), 'header_too_large', { headerLength: String(MAX_HEADER_SIZE + 1) })
    expectError(() => readSafetensorsHeader(lengthPrefix((1n << 64n) - 1n), Number.MAX_SAFE_INTEGER), 'header_too_large')
    expectError(() => readSafetensorsHeader(lengthPrefix(1n << 40n), 1n << 41n), 'header_too_large')
    // A length larger than the file is refused before any header byte is needed.
    expectError(() => readSafetensorsHeader(lengthPrefix(100_000_000n), 4096), 'invalid_safetensors', { rule: 'header_outside_file' })
  })

  const zeroTensors = (count: number) => Array.from({ length: count }, (_, index) => ({ name: `t${index}`, dtype: 'F16' as const, shape: [0] }))

  it(`accepts ${MAX_TENSORS} tensors and refuses one more`, () => {
    const atLimit = buildSafetensorsHeader(zeroTensors(MAX_TENSORS), { format: 'pt' })
    expect(readSafetensorsHeader(atLimit.bytes, atLimit.fileSize).tensors).toHaveLength(MAX_TENSORS)
    const above = buildSafetensorsHeader(zeroTensors(MAX_TENSORS + 1))
    expectError(() => readSafetensorsHeader(above.bytes, above.fileSize), 'invalid_safetensors', { rule: 'tensor_count' })
    expectError(() => validateHeaderObject(JSON.parse(headerText(above.bytes))), 'invalid_safetensors', { rule: 'tensor_count' })
  }, 60_000)

  it('refuses JSON nested 100,000 levels deep without recursing into it', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    for (const text of [`{"t":{"dtype":"F16","shape":${deep},"data_offsets":[0,0]}}`, `{"__metadata__":{"a":${deep}}}`, deep, `{"a":${`{"a":`.repeat(100_000)}1${'}'.repeat(100_001)}`]) {
      const bytes = withHeaderText(new Uint8Array(8), text)
      expectError(() => readSafetensorsHeader(bytes, bytes.length), 'invalid_safetensors')
    }
    // Already parsed (an API body): the value is described, never serialised whole.
    const nested = JSON.parse(deep)
    for (const header of [{ t: { dtype: nested, shape: [], data_offsets: [0, 0] } }, { t: { dtype: 'F16', shape: nested, data_offsets: [0, 0] } }, { __metadata__: { a: nested } }, { t: nested }]) {
      expectError(() => validateHeaderObject(header), 'invalid_safetensors')
    }
  })

  it.each([
    ['a negative dimension', '[-1]', '[0,0]', 'number_form'],
    ['a fractional dimension', '[1.5]', '[0,3]', 'number_form'],
    ['an exponent', '[1e3]', '[0,2000]', 'number_form'],
    ['a dimension of 1e400', '[1e400]', '[0,0]', 'number_form'],
    ['a dimension above u64', '[18446744073709551616]', '[0,0]', 'integer_out_of_range'],
    ['dimensions whose product overflows u64', '[4294967296,4294967296]', '[0,0]', 'overflow'],
    ['a dimension past 2^53 in a zero-size tensor', '[9007199254740993,0]', '[0,0]', 'integer_too_large'],
    ['a leading zero', '[01]', '[0,2]', 'json'],
    ['a negative offset', '[2]', '[-4,0]', 'number_form'],
    ['an offset past 2^64', '[2]', '[0,18446744073709551620]', 'integer_out_of_range'],
    ['offsets ending before they begin', '[0]', '[4,0]', 'offsets'],
    ['offsets as strings', '[2]', '["0","4"]', 'offsets'],
    ['a string dimension', '["2"]', '[0,4]', 'shape'],
  ])('refuses %s', (_case, shape, offsets, rule) => {
    const bytes = withHeaderText(new Uint8Array(8), `{"t":{"dtype":"F16","shape":${shape},"data_offsets":${offsets}}}`)
    expectError(() => readSafetensorsHeader(bytes, bytes.length), 'invalid_safetensors', { rule })
  })

  it('refuses duplicate keys, also when one is written with escapes', () => {
    const entry = '{"dtype":"F16","shape":[0],"data_offsets":[0,0]}'
    for (const text of [`{"t":${entry},"t":${entry}}`, `{"t":${entry},"\\u0074":${entry}}`, '{"t":{"dtype":"F16","dtype":"F32","shape":[0],"data_offsets":[0,0]}}', '{"__metadata__":{"a":"1","a":"2"}}']) {
      const bytes = withHeaderText(new Uint8Array(8), text)
      expectError(() => readSafetensorsHeader(bytes, bytes.length), 'invalid_safetensors', { rule: 'duplicate_key' })
    }
  })

  it('refuses NUL characters, which no stored header could hold', () => {
    const entry = '{"dtype":"F16","shape":[0],"data_offsets":[0,0]}'
    for (const text of [`{"__metadata__":{"a":"x\\u0000"},"t":${entry}}`, `{"__metadata__":{"\\u0000":"x"}}`]) {
      const bytes = withHeaderText(new Uint8Array(8), text)
      expectError(() => readSafetensorsHeader(bytes, bytes.length), 'invalid_safetensors', { rule: 'nul_character' })
    }
    const named = withHeaderText(new Uint8Array(8), `{"t\\u0000":${entry}}`)
    expectError(() => readSafetensorsHeader(named, named.length), 'invalid_safetensors', { rule: 'control_character' })
    expectError(() => validateHeaderObject({ __metadata__: { a: 'x\u0000' } }), 'invalid_safetensors', { rule: 'nul_character' })
  })

  it('reads __proto__ keys as plain names and pollutes nothing', () => {
    const entry = '{"dtype":"F16","shape":[1],"data_offsets":[0,2]}'
    const bytes = withHeaderText(new Uint8Array(8), `{"__metadata__":{"__proto__":"x","constructor":"y"},"__proto__":${entry}}`)
    const header = readSafetensorsHeader(concat(bytes, new Uint8Array(2)), bytes.length + 2)
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['__proto__'])
    expect(Object.hasOwn(header.metadata, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(header.metadata)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expectError(() => readSafetensorsHeader(withHeaderText(new Uint8Array(8), '{"__proto__":{"polluted":true}}'), 40), 'invalid_safetensors')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

const PEFT_CONFIGS: Record<string, unknown>[] = [
  ...FOLDERS.map((folder) => JSON.parse(textOf(folder, 'adapter_config.json'))),
  {
    alpha_pattern: { q_proj: 32 },
    base_model_name_or_path: 'meta-llama/Llama-2-7b-hf',
    bias: 'lora_only',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: 'layers',
    layers_to_transform: [0, 1],
    lora_alpha: 16,
    lora_dropout: 0.05,
    modules_to_save: ['lm_head'],
    peft_type: 'LORA',
    r: 8,
    rank_pattern: { 'layers.1.self_attn.q_proj': 16 },
    revision: null,
    target_modules: '^(?!.*vision_tower).*(?:q_proj|v_proj)',
    task_type: 'CAUSAL_LM',
    use_dora: true,
    use_rslora: false,
  },
]
const PEFT_KEYS = [...new Set(PEFT_CONFIGS.flatMap((config) => Object.keys(config))), 'target_parameters', 'peft_version', 'lora_bias', '__proto__', 'constructor']
const LLAMA_HEADER = readSafetensorsHeader(fileOf(FOLDERS[0] ?? [], 'adapter_model.safetensors'), fileOf(FOLDERS[0] ?? [], 'adapter_model.safetensors').length)

/** Python regex syntax in pieces, to make patterns PEFT and this engine must survive. */
const regexish = fc.string({ unit: fc.constantFrom('(', ')', '[', ']', '{', '}', '*', '+', '?', '|', '.', '^', '$', '\\', '-', ',', ':', '<', '>', '=', '!', 'P', 'a', 'q', '_', '1', '3', 'd', 'w', 'b'), maxLength: 30 })

const configValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), parsedTokens, regexish, fc.array(regexish, { maxLength: 3 }), fc.dictionary(regexish, fc.oneof(fc.integer(), fc.double()), { maxKeys: 3 }))

function expectSoundConfig(config: AdapterConfig): void {
  expect(Number.isInteger(config.r) && config.r > 0).toBe(true)
  expect(Number.isFinite(config.loraAlpha)).toBe(true)
  expect(['none', 'all', 'lora_only']).toContain(config.bias)
  expect(typeof config.targetModules === 'string' || config.targetModules.every((target) => typeof target === 'string')).toBe(true)
  for (const rank of Object.values(config.rankPattern)) expect(Number.isInteger(rank) && rank > 0).toBe(true)
  for (const alpha of Object.values(config.alphaPattern)) expect(Number.isFinite(alpha)).toBe(true)
  for (const layer of config.layersToTransform ?? []) expect(Number.isInteger(layer) && layer >= 0).toBe(true)
  for (const key of ['model.layers.0.self_attn.q_proj', 'lm_head', `${'a'.repeat(2000)}!`]) {
    expect(typeof targetsModule(config, key, 'lm_head')).toBe('boolean')
    patternValue(config.rankPattern, key)
  }
  expect(analyzeAdapter(LLAMA_HEADER, config).tensorCount).toBe(LLAMA_HEADER.tensors.length)
  expect(JSON.stringify(config)).not.toContain('\\u0000')
}

describe('adapter_config.json parser', () => {
  it('answers mutated configs with a sound config or invalid_adapter_config', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PEFT_CONFIGS),
        fc.array(fc.tuple(fc.constantFrom(...PEFT_KEYS), fc.option(configValue, { freq: 6, nil: undefined })), { minLength: 1, maxLength: 4 }),
        (config, changes) => {
          const mutated = structuredClone(config)
          for (const [key, value] of changes) {
            if (value === undefined) delete mutated[key]
            else Object.defineProperty(mutated, key, { value, enumerable: true, configurable: true, writable: true })
          }
          let parsed: AdapterConfig | undefined
          typedError(() => {
            parsed = parseAdapterConfig(mutated)
          }, ['invalid_adapter_config'])
          if (parsed) expectSoundConfig(parsed)
          expect(({} as Record<string, unknown>).polluted).toBeUndefined()
        },
      ),
      { numRuns: runs(1500) },
    )
  })

  it('answers config text with flipped, cut or spliced bytes the same way', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PEFT_CONFIGS), fc.nat(), fc.string({ maxLength: 8 }), fc.constantFrom('flip', 'cut', 'splice'), (config, at, insert, how) => {
        const text = JSON.stringify(config, null, 2)
        const cut = at % (text.length + 1)
        const mutated = how === 'cut' ? text.slice(0, cut) : how === 'splice' ? text.slice(0, cut) + insert + text.slice(cut) : text.slice(0, cut) + insert.slice(0, 1) + text.slice(cut + 1)
        let parsed: AdapterConfig | undefined
        typedError(() => {
          parsed = parseAdapterConfig(mutated)
        }, ['invalid_adapter_config'])
        if (parsed) expectSoundConfig(parsed)
      }),
      { numRuns: runs(1000) },
    )
  })

  it('refuses NUL characters and lone surrogates in the values it keeps', () => {
    for (const config of [{ target_modules: ['q_proj', 'x\u0000'] }, { target_modules: '.*\u0000' }, { base_model_name_or_path: 'a\u0000' }, { rank_pattern: { 'q\u0000': 4 } }, { modules_to_save: ['\u0000'] }]) {
      expectError(() => parseAdapterConfig(config), 'invalid_adapter_config')
    }
    for (const text of ['{"target_modules":["q_proj","\\ud800"]}', '{"base_model_name_or_path":"a\\udc00"}', '{"rank_pattern":{"q\\ud83d":4}}']) {
      expectError(() => parseAdapterConfig(text), 'invalid_adapter_config')
    }
    // A whole pair is text; values it ignores may hold anything.
    expectSoundConfig(parseAdapterConfig('{"r":8,"base_model_name_or_path":"\\ud83d\\ude00"}'))
    expectSoundConfig(parseAdapterConfig({ r: 8, notes: 'a\u0000b', more: '\ud800' }))
  })

  it('survives configs nested 100,000 levels deep and __proto__ keys', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    expectError(() => parseAdapterConfig(deep), 'invalid_adapter_config')
    expectError(() => parseAdapterConfig(`{"target_modules":${deep}}`), 'invalid_adapter_config', { field: 'target_modules' })
    expectError(() => parseAdapterConfig({ r: 8, rank_pattern: { q_proj: JSON.parse(deep) } }), 'invalid_adapter_config')
    // Unknown keys are ignored, however deep.
    expectSoundConfig(parseAdapterConfig(`{"r":8,"megatron_config":${deep}}`))
    const proto = parseAdapterConfig('{"__proto__":{"r":999,"polluted":true},"rank_pattern":{"__proto__":4}}')
    expect(proto.r).toBe(8)
    expect(patternValue(proto.rankPattern, 'model.__proto__')).toBe(4)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

const HF_CONFIGS: [string, Record<string, unknown>][] = [...Object.entries(hfConfigs), ['microsoft/phi-2', phi2LegacyConfig], ['unsloth/llama-3-8b-bnb-4bit', unslothLlama3Config]]
const HF_KEYS = [...new Set(HF_CONFIGS.flatMap(([, config]) => Object.keys(config))), 'model_type', 'head_dim', 'kv_channels', 'multi_query_group_num', 'n_head_kv', 'num_kv_heads']
const dimension = fc.oneof(
  fc.integer({ min: -4, max: 100_000 }),
  fc.constantFrom<unknown>(0, 0.5, 3.5, 1e308, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, -1, '4096', null, true, [4096], { value: 4096 }),
)
const modelType = fc.constantFrom<unknown>('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'llama', 'qwen', 'chatglm', 'falcon', 'gpt2', 'unknown', '', 42, null, ['llama'])

function expectSoundBase(id: string, base: BaseModel): void {
  expect(base.id).toBe(id)
  for (const value of [base.hiddenSize, base.intermediateSize, base.numHiddenLayers, base.numAttentionHeads, base.numKeyValueHeads, base.headDim]) {
    expect(Number.isSafeInteger(value) && value > 0, JSON.stringify(base)).toBe(true)
  }
  for (const shape of Object.values(base.modules)) for (const dim of shape) expect(Number.isSafeInteger(dim) && dim > 0, JSON.stringify(base.modules)).toBe(true)
  expect(JSON.parse(JSON.stringify(base))).toEqual(base)
  const folder = FOLDERS[0] ?? []
  const report = checkAgainstBase(analyzeAdapter(LLAMA_HEADER, parseAdapterConfig(textOf(folder, 'adapter_config.json'))), LLAMA_HEADER, base, { allBases: seededBaseModels })
  expect(typeof report.compatible).toBe('boolean')
}

describe('Hugging Face config.json parser', () => {
  it('answers mutated configs with a sound base or invalid_base_config', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...HF_CONFIGS),
        fc.array(fc.tuple(fc.constantFrom(...HF_KEYS), fc.option(fc.oneof(dimension, dimension, modelType, fc.jsonValue({ maxDepth: 2 })), { freq: 6, nil: undefined })), { minLength: 1, maxLength: 4 }),
        ([id, config], changes) => {
          const mutated = structuredClone(config)
          for (const [key, value] of changes) {
            if (value === undefined) delete mutated[key]
            else mutated[key] = key === 'model_type' && typeof value === 'number' ? String(value) : value
          }
          let base: BaseModel | undefined
          typedError(() => {
            base = baseModelFromHfConfig(id, mutated)
          }, ['invalid_base_config'])
          if (base) expectSoundBase(id, base)
        },
      ),
      { numRuns: runs(1500) },
    )
  })

  it('answers any JSON value, deep nesting and prototype names with a typed error', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        let base: BaseModel | undefined
        typedError(() => {
          base = baseModelFromHfConfig('any/model', value)
        }, ['invalid_base_config'])
        if (base) expectSoundBase('any/model', base)
      }),
      { numRuns: runs(500) },
    )
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)
    expectError(() => baseModelFromHfConfig('x/y', deep), 'invalid_base_config')
    expectError(() => baseModelFromHfConfig('x/y', { model_type: deep }), 'invalid_base_config', { field: 'model_type' })
    expectError(() => baseModelFromHfConfig('x/y', { ...hfConfigs['meta-llama/Llama-2-7b-hf'], hidden_size: deep }), 'invalid_base_config', { field: 'hidden_size' })
    for (const name of ['__proto__', 'constructor', 'toString', 'valueOf']) {
      expectError(() => baseModelFromHfConfig('x/y', JSON.parse(`{"model_type":${JSON.stringify(name)}}`)), 'invalid_base_config', { field: 'model_type' })
    }
  })

  it('derives LoRA tensors a base accepts for every base it builds from a seeded config', () => {
    for (const [id, config] of HF_CONFIGS) {
      const base = baseModelFromHfConfig(id, config)
      expectSoundBase(id, base)
      const tensors = loraTensorsFor(base, { r: 4, layers: [0] })
      expect(tensors.length).toBeGreaterThan(0)
    }
  })
})
