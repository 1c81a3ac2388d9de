import fc from 'fast-check'
import { pathsIn, setAt } from './common'

/**
 * Request bodies for fuzzing, generated from the app's own OpenAPI document: valid-looking ones
 * built from each JSON schema (with real fixture values by property name), the same with one
 * field mutated, wrong types under the right names, arbitrary JSON, huge strings, deep nesting,
 * and text that is not JSON at all.
 */

type Schema = Record<string, unknown>
export type OpenApiDocument = { paths: Record<string, Record<string, unknown>>; components?: { schemas?: Record<string, Schema> } }

export type JsonBodyOperation = {
  operationId: string
  method: string
  /** The templated path: `/v1/adapters/{team}/{slug}`. */
  path: string
  schema: Schema
  required: boolean
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']

/** Every operation of the document that takes an `application/json` request body. */
export function jsonBodyOperations(document: OpenApiDocument): JsonBodyOperation[] {
  const operations: JsonBodyOperation[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as { operationId?: string; requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> } } | undefined
      const schema = operation?.requestBody?.content?.['application/json']?.schema
      if (!operation || !schema) continue
      operations.push({ operationId: operation.operationId ?? `${method} ${path}`, method: method.toUpperCase(), path, schema, required: operation.requestBody?.required === true })
    }
  }
  return operations
}

/** The path with every `{name}` filled from `values`; throws for a parameter it cannot fill. */
export function fillPath(operation: JsonBodyOperation, values: Record<string, string>): string {
  return operation.path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`${operation.operationId}: no fixture value for the path parameter {${name}}; add one to the fuzz fixtures`)
    return encodeURIComponent(value)
  })
}

export type BodyContext = {
  document: OpenApiDocument
  /** Real values by property name (a team slug, an offer id…), mixed with schema-derived ones. */
  byName: Record<string, unknown[]>
  /** Complete valid bodies for this operation, when the test knows some. */
  seeds: unknown[]
  /** The largest JSON body the app accepts. */
  maxBodyBytes: number
}

function resolve(schema: Schema, document: OpenApiDocument, seen = 0): Schema {
  const ref = schema.$ref
  if (typeof ref !== 'string') return schema
  const name = ref.replace('#/components/schemas/', '')
  const target = document.components?.schemas?.[name]
  if (!target || seen > 20) throw new Error(`unresolvable $ref ${ref}`)
  return resolve(target, document, seen + 1)
}

const smallJson = fc.jsonValue({ maxDepth: 2 })

function stringFor(schema: Schema): fc.Arbitrary<string> {
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0
  const maxLength = Math.min(typeof schema.maxLength === 'number' ? schema.maxLength : 60, minLength + 60)
  const withinLength = (text: string) => text.length >= minLength && text.length <= (typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY)
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern)).filter(withinLength)
  switch (schema.format) {
    case 'email':
      // Plain addresses pass every validator; fast-check's exotic ones test the validator itself.
      return fc.oneof(fc.stringMatching(/^[a-z0-9]{1,20}@[a-z]{1,12}\.test$/), fc.emailAddress()).filter(withinLength)
    case 'uuid':
      return fc.uuid()
    case 'date':
      return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10))
    case 'date-time':
      return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((date) => date.toISOString())
    default:
      return fc.string({ minLength, maxLength })
  }
}

function numberFor(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const exclusive = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum : undefined
  const minimum = typeof schema.minimum === 'number' ? schema.minimum : exclusive !== undefined ? exclusive + (integer ? 1 : 1e-9) : -1_000_000
  const maximum = typeof schema.maximum === 'number' ? schema.maximum : 1_000_000
  return integer
    ? fc.integer({ min: Math.max(minimum, Number.MIN_SAFE_INTEGER), max: Math.min(maximum, Number.MAX_SAFE_INTEGER) })
    : fc.double({ min: minimum, max: maximum, noNaN: true, noDefaultInfinity: true })
}

/** Values that satisfy the schema (or come close), preferring real fixture values by name. */
export function validLooking(schema: Schema, context: BodyContext, name?: string, depth = 0): fc.Arbitrary<unknown> {
  const derived = derive(resolve(schema, context.document), context, depth)
  const known = name === undefined ? undefined : context.byName[name]
  return known && known.length > 0 ? fc.oneof(fc.constantFrom(...known), derived) : derived
}

function derive(schema: Schema, context: BodyContext, depth: number): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = []
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]))
  if (schema.const !== undefined) return fc.constant(schema.const)
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (Array.isArray(union)) return fc.oneof(...union.map((option) => validLooking(option, context, undefined, depth + 1)))
  if (schema.example !== undefined) options.push(fc.constant(schema.example))
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : typeof schema.type === 'string' ? [schema.type] : []
  for (const type of types) {
    if (type === 'null') options.push(fc.constant(null))
    else if (type === 'string') options.push(stringFor(schema))
    else if (type === 'integer' || type === 'number') options.push(numberFor(schema, type === 'integer'))
    else if (type === 'boolean') options.push(fc.boolean())
    else if (type === 'array') options.push(arrayFor(schema, context, depth))
    else if (type === 'object') options.push(objectFor(schema, context, depth))
  }
  if (options.length === 0) options.push(depth > 3 ? fc.constant({}) : smallJson)
  return options.length === 1 ? (options[0] as fc.Arbitrary<unknown>) : fc.oneof(...options)
}

function arrayFor(schema: Schema, context: BodyContext, depth: number): fc.Arbitrary<unknown[]> {
  const items = (schema.items as Schema | undefined) ?? {}
  const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0
  const maxLength = Math.max(minLength, Math.min(typeof schema.maxItems === 'number' ? schema.maxItems : 3, 3))
  return fc.array(validLooking(items, context, undefined, depth + 1), { minLength, maxLength })
}

function objectFor(schema: Schema, context: BodyContext, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties as Record<string, Schema> | undefined) ?? {}
  const required = (schema.required as string[] | undefined) ?? []
  const additional = schema.additionalProperties
  const named = fc.record(
    Object.fromEntries(Object.entries(properties).map(([key, property]) => [key, validLooking(property, context, key, depth + 1)])),
    { requiredKeys: required.filter((key) => key in properties) },
  )
  if (additional === undefined || additional === false || Object.keys(properties).length > 0) return named as fc.Arbitrary<Record<string, unknown>>
  const value = typeof additional === 'object' && additional !== null && Object.keys(additional).length > 0 ? validLooking(additional as Schema, context, undefined, depth + 1) : smallJson
  return fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 4 })
}

/** Every property name the schema mentions at any depth (for "right names, wrong types"). */
export function propertyNames(schema: Schema, document: OpenApiDocument, into = new Set<string>(), depth = 0): Set<string> {
  const resolved = resolve(schema, document)
  if (depth > 6) return into
  for (const [key, property] of Object.entries((resolved.properties as Record<string, Schema> | undefined) ?? {})) {
    into.add(key)
    propertyNames(property, document, into, depth + 1)
  }
  for (const option of ((resolved.anyOf ?? resolved.oneOf) as Schema[] | undefined) ?? []) propertyNames(option, document, into, depth + 1)
  if (resolved.items) propertyNames(resolved.items as Schema, document, into, depth + 1)
  return into
}

// Placeholders swapped after JSON.stringify, which could not build these values itself.
const DEEP_VALUE = '@@fuzz-deep-nesting@@'
const LONG_VALUE = '@@fuzz-long-string@@'
const DEEP = JSON.stringify(DEEP_VALUE)
const LONG = JSON.stringify(LONG_VALUE)

/** Hostile replacement values for one field. */
const hostile = fc.oneof(
  smallJson,
  fc.constantFrom<unknown>(
    null,
    -1,
    0,
    1.5,
    -0.0001,
    1e308,
    -1e308,
    2 ** 53 + 1,
    2 ** 64,
    '',
    ' ',
    '\u0000',
    '\ud800',
    '𝟘𝟙',
    '../../../etc/passwd',
    "' OR 1=1 --",
    '<script>alert(1)</script>',
    '%00',
    [],
    {},
    true,
    JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
  ),
  fc.constant(DEEP_VALUE),
  fc.constant(LONG_VALUE),
)

export type FuzzBody = { kind: string; text: string | undefined; contentType: string | undefined }

/** Serialises, then swaps the placeholders for 100k-deep nesting or a string near the body limit. */
function serialise(value: unknown, deepLevels: number, longBytes: number): string {
  let text = JSON.stringify(value) ?? 'null'
  if (text.includes(DEEP)) text = text.replace(DEEP, `${'['.repeat(deepLevels)}${']'.repeat(deepLevels)}`)
  if (text.includes(LONG)) text = text.replace(LONG, JSON.stringify('a'.repeat(Math.max(0, longBytes - text.length))))
  return text
}

const NOT_JSON = [
  '',
  '{',
  '}',
  '[',
  '{"a":1,}',
  "{'a':1}",
  'NaN',
  'undefined',
  '\ufeff{}',
  '{"a":1}{"b":2}',
  '{"a":01}',
  '{"a":"\\x41"}',
  '{"a":"\\ud800"}',
  '\u0000',
  'null',
  'true',
  '"text"',
  '12',
  '[]',
]

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']

/** The body kinds the issue lists, weighted towards the ones that reach the handlers. */
export function fuzzBodies(operation: JsonBodyOperation, context: BodyContext): fc.Arbitrary<FuzzBody> {
  const valid = context.seeds.length > 0 ? fc.oneof(fc.constantFrom(...context.seeds), validLooking(operation.schema, context)) : validLooking(operation.schema, context)
  const names = [...propertyNames(operation.schema, context.document)]
  const json = (kind: string) => (value: unknown) => ({ kind, text: JSON.stringify(value) ?? 'null', contentType: 'application/json' })
  const nearLimit = fc.constantFrom(10_000, 100_000, context.maxBodyBytes - 64, context.maxBodyBytes + 1, 2 * context.maxBodyBytes)
  const deepLevels = fc.constantFrom(100, 10_000, 100_000)

  const mutated = fc
    .tuple(valid, fc.nat(), fc.option(hostile, { freq: 8, nil: undefined }), deepLevels, nearLimit)
    .map(([body, pick, replacement, levels, bytes]) => {
      const paths = pathsIn(body, 5)
      const path = paths[pick % paths.length] ?? []
      return { kind: 'one field mutated', text: serialise(setAt(body, path, replacement), levels, bytes), contentType: 'application/json' }
    })
  const wrongTypes = (names.length > 0 ? fc.record(Object.fromEntries(names.map((key) => [key, fc.oneof(smallJson, hostile)])), { requiredKeys: [] }) : fc.object()).chain(
    (body) => fc.tuple(deepLevels, nearLimit).map(([levels, bytes]) => ({ kind: 'right names, wrong types', text: serialise(body, levels, bytes), contentType: 'application/json' })),
  )
  const longString = fc.tuple(valid, fc.nat(), nearLimit).map(([body, pick, bytes]) => {
    const paths = pathsIn(body, 5).filter((path) => path.length > 0)
    const path = paths[pick % Math.max(1, paths.length)] ?? ['fuzz']
    return { kind: 'long string', text: serialise(setAt(body, path, LONG_VALUE), 0, bytes), contentType: 'application/json' }
  })
  const deep = fc.tuple(deepLevels, fc.constantFrom(...(names.length > 0 ? names : ['fuzz'])), fc.boolean()).map(([levels, name, objects]) => ({
    kind: 'deep nesting',
    text: objects ? `${`{"${name}":`.repeat(levels)}1${'}'.repeat(levels)}` : `{"${name}":${'['.repeat(levels)}${']'.repeat(levels)}}`,
    contentType: 'application/json',
  }))
  const truncated = fc.tuple(valid, fc.nat()).map(([body, cut]) => {
    const text = JSON.stringify(body) ?? ''
    return { kind: 'truncated JSON', text: text.slice(0, cut % Math.max(1, text.length)), contentType: 'application/json' }
  })
  const notJson = fc.oneof(fc.constantFrom(...NOT_JSON), fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((bytes) => String.fromCharCode(...bytes))).map((text) => ({
    kind: 'not JSON',
    text,
    contentType: 'application/json',
  }))
  const otherMedia = fc.tuple(valid, fc.constantFrom(...CONTENT_TYPES, undefined), fc.boolean()).map(([body, contentType, withBody]) => ({
    kind: 'other media type',
    text: withBody ? JSON.stringify(body) : undefined,
    contentType,
  }))

  return fc.oneof(
    { weight: 3, arbitrary: valid.map(json('valid-looking')) },
    { weight: 5, arbitrary: mutated },
    { weight: 2, arbitrary: wrongTypes },
    { weight: 2, arbitrary: smallJson.map(json('arbitrary JSON')) },
    { weight: 1, arbitrary: longString },
    { weight: 1, arbitrary: deep },
    { weight: 2, arbitrary: truncated },
    { weight: 2, arbitrary: notJson },
    { weight: 1, arbitrary: otherMedia },
  )
}
