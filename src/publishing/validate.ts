import { and, eq } from 'drizzle-orm'
import { adapters } from '../catalog'
import { adapterVersions, versionCompatibility, versionFiles } from './tables'
import { checkedEntry, registryFor } from '../registry'
import { analyzeAdapter, type AdapterConfig, CompatInputError, compatibilityMatrix, type Finding, parseAdapterConfig, readSafetensorsHeader, type SafetensorsHeader } from '../compat'
import { type AdapterFingerprint, createFingerprinter } from '../compat'
import type { Deps } from '../lib/context'
import type { ObjectStore } from '../storage'
import { sha256OfStream } from '../storage'
import { sha256 as sha256Hasher } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { decide, duplicateFinding, findMatches, lockModuleKinds, storeFingerprint } from './fingerprints'
import { versionFingerprints } from './tables'
import type { VersionFacts } from './versions'

/** The first read of a weights file; a typical LoRA header (~60 KB) fits, larger ones take a second read. */
export const HEADER_PROBE_BYTES = 64 * 1024
const MAX_CONFIG_BYTES = 1024 * 1024

type FileRow = typeof versionFiles.$inferSelect

class Rejection extends Error {
  constructor(readonly findings: Finding[]) {
    super(findings.map((f) => f.message).join('; '))
  }
}

const reject = (code: string, message: string, extra: Partial<Finding> = {}) =>
  new Rejection([{ code, severity: 'error', message, ...extra }])

/**
 * Validates an uploaded version: every declared file present with its size and checksum, the
 * weights a strict safetensors file, the config a PEFT config, and the tensors checked against
 * every verified base model and the team's own pending registrations, then its fingerprint compared
 * with other teams' versions (seller protection: a copy of a published version is rejected
 * `duplicate_of`, a partial one flagged). The weights are streamed once, whatever their size.
 * Safe to run again: it only acts on a version in `validating`, and writes its verdict, the facts,
 * the compatibility matrix and the fingerprint in one transaction.
 * Store or database failures throw, leaving the version in `validating` for a retry.
 */
export async function validateVersion(deps: Pick<Deps, 'db' | 'store' | 'clock'>, versionId: string): Promise<void> {
  const { db, store } = deps
  const [found] = await db
    .select({ version: adapterVersions, teamId: adapters.teamId })
    .from(adapterVersions)
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .where(eq(adapterVersions.id, versionId))
  if (!found || found.version.status !== 'validating') return
  const { version, teamId } = found
  const files = await db.select().from(versionFiles).where(eq(versionFiles.versionId, versionId))

  let outcome:
    | { facts: VersionFacts; findings: Finding[]; matrix: Awaited<ReturnType<typeof checkAll>>; fingerprint: AdapterFingerprint }
    | { rejected: Finding[] }
  try {
    const weights = pickWeights(files)
    // The weights are streamed once below (fingerprint and, when the store has none, the checksum).
    const unhashed = await verifyFiles(store, files, weights)
    const header = await readHeader(store, weights)
    const fingerprint = await fingerprintFile(store, weights, header, unhashed)
    const config = await readConfig(store, files)
    const lora = analyzeAdapter(header, config)
    const matrix = await checkAll(deps, teamId, lora, header)
    const declared = matrix.find((report) => report.base === version.declaredBase)
    const fits = matrix.filter((report) => report.compatible).map((report) => report.base)
    const findings: Finding[] = declared ? declared.checks.filter((check) => check.severity !== 'info') : []
    if (fits.length === 0) {
      throw new Rejection([
        ...findings,
        { code: 'no_compatible_base', severity: 'error', message: 'The tensors fit none of the registered base models.' },
      ])
    }
    if (!declared?.compatible) {
      throw new Rejection([
        ...findings,
        {
          code: 'declared_base_incompatible',
          severity: 'error',
          expected: version.declaredBase,
          actual: fits,
          message: `The tensors do not fit the declared base ${version.declaredBase}; they fit ${fits.join(', ')}.`,
        },
      ])
    }
    outcome = { facts: { weights: weights.path, header, ...(config && { config }), lora }, findings, matrix, fingerprint }
  } catch (error) {
    if (error instanceof Rejection) outcome = { rejected: error.findings }
    else if (error instanceof CompatInputError) {
      const tensor = typeof error.extra?.tensor === 'string' ? error.extra.tensor : undefined
      outcome = { rejected: [{ code: error.code, severity: 'error', message: error.message, ...(tensor && { tensor }) }] }
    }
    else throw error
  }

  const now = deps.clock()
  await db.transaction(async (tx) => {
    const attempts = version.validationAttempts + 1
    if ('rejected' in outcome) {
      await tx
        .update(adapterVersions)
        .set({ status: 'rejected', findings: outcome.rejected, validationAttempts: attempts, updatedAt: now })
        .where(and(eq(adapterVersions.id, versionId), eq(adapterVersions.status, 'validating')))
      return
    }
    // Seller protection: another team's version computing the same function. Under the module-kind
    // locks, so a copy validated at the same moment as its original sees it once it has committed.
    const { fingerprint } = outcome
    await lockModuleKinds(tx, fingerprint)
    const [previous] = await tx.select({ verdict: versionFingerprints.verdict }).from(versionFingerprints).where(eq(versionFingerprints.versionId, versionId))
    const found = decide(await findMatches(tx, fingerprint, { excludeTeams: { teamId }, excludeVersionId: versionId }))
    const decision = previous?.verdict === 'overruled' ? { ...found, verdict: 'overruled' as const } : found
    const duplicateOf = decision.verdict === 'duplicate' ? decision.duplicateOf : undefined
    const claimed = await tx
      .update(adapterVersions)
      .set(
        duplicateOf
          ? { status: 'rejected', findings: [duplicateFinding(duplicateOf)], validationAttempts: attempts, updatedAt: now }
          : { status: 'ready', findings: outcome.findings, facts: outcome.facts, validationAttempts: attempts, updatedAt: now },
      )
      .where(and(eq(adapterVersions.id, versionId), eq(adapterVersions.status, 'validating')))
      .returning({ id: adapterVersions.id })
    if (claimed.length === 0) return
    await storeFingerprint(tx, versionId, fingerprint, decision, now)
    if (duplicateOf) return
    await tx.delete(versionCompatibility).where(eq(versionCompatibility.versionId, versionId))
    await tx.insert(versionCompatibility).values(
      outcome.matrix.map((report) => ({
        versionId,
        baseModel: report.base,
        compatible: report.compatible,
        runtimes: report.runtimes,
        findings: report.checks,
      })),
    )
  })
}

/** Checks every file's presence, size and (when the store knows it) checksum; returns the weights if their checksum is still to be computed. */
async function verifyFiles(store: ObjectStore, files: FileRow[], weights: FileRow): Promise<boolean> {
  let weightsUnhashed = false
  for (const file of files) {
    const head = await store.head(file.storageKey)
    if (!head) throw reject('file_missing', `${file.path} is not in storage.`, { tensor: undefined })
    if (head.size !== file.size) {
      throw reject('size_mismatch', `${file.path} has ${head.size} bytes; ${file.size} were declared.`, { expected: file.size, actual: head.size })
    }
    if (!head.sha256 && file === weights) {
      weightsUnhashed = true
      continue
    }
    // Stores that verified a whole-object SHA-256 on upload report it; others are hashed here.
    const sha256 = head.sha256 ?? (await sha256OfStream(await store.getStream(file.storageKey)))
    if (sha256 !== file.sha256) throw checksumMismatch(file, sha256)
  }
  return weightsUnhashed
}

const checksumMismatch = (file: FileRow, actual: string) =>
  reject('checksum_mismatch', `${file.path} does not match its declared SHA-256.`, { expected: file.sha256, actual })

/**
 * One pass over the weights: the fingerprint of every LoRA module (memory bounded by the module
 * count, never by the file) and, when the store reported no checksum, the SHA-256.
 */
async function fingerprintFile(store: ObjectStore, file: FileRow, header: SafetensorsHeader, hash: boolean): Promise<AdapterFingerprint> {
  const fingerprinter = createFingerprinter(header)
  const hasher = hash ? sha256Hasher.create() : undefined
  let size = 0
  for await (const chunk of (await store.getStream(file.storageKey)) as unknown as AsyncIterable<Uint8Array>) {
    fingerprinter.update(chunk)
    hasher?.update(chunk)
    size += chunk.length
  }
  if (size !== file.size) throw reject('size_mismatch', `${file.path} streamed ${size} bytes; ${file.size} were declared.`, { expected: file.size, actual: size })
  if (hasher) {
    const actual = bytesToHex(hasher.digest())
    if (actual !== file.sha256) throw checksumMismatch(file, actual)
  }
  return fingerprinter.finish()
}

function pickWeights(files: FileRow[]): FileRow {
  const weights = files.find((file) => file.path.endsWith('adapter_model.safetensors')) ?? files.find((file) => file.path.endsWith('.safetensors'))
  if (!weights) throw reject('weights_missing', 'The version has no .safetensors file.')
  return weights
}

/** Reads only the header: one ranged read, a second only when the header is larger than the probe. */
async function readHeader(store: ObjectStore, file: FileRow): Promise<SafetensorsHeader> {
  const probe = await store.getRange(file.storageKey, 0, Math.min(file.size, HEADER_PROBE_BYTES) - 1)
  try {
    return readSafetensorsHeader(probe, file.size)
  } catch (error) {
    const needBytes = error instanceof CompatInputError && error.code === 'incomplete_header' ? Number(error.extra?.needBytes) : 0
    if (!needBytes || needBytes > file.size) throw error
    return readSafetensorsHeader(await store.getRange(file.storageKey, 0, needBytes - 1), file.size)
  }
}

async function readConfig(store: ObjectStore, files: FileRow[]): Promise<AdapterConfig | undefined> {
  const file = files.find((candidate) => candidate.path.endsWith('adapter_config.json'))
  if (!file) return undefined
  if (file.size > MAX_CONFIG_BYTES) throw reject('invalid_adapter_config', `${file.path} is larger than ${MAX_CONFIG_BYTES} bytes.`)
  const bytes = await store.getRange(file.storageKey, 0, file.size - 1)
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes))
  } catch {
    throw reject('invalid_adapter_config', `${file.path} is not valid UTF-8 JSON.`)
  }
  return parseAdapterConfig(json)
}

async function checkAll(deps: Pick<Deps, 'db'>, teamId: string, lora: ReturnType<typeof analyzeAdapter>, header: SafetensorsHeader) {
  // Every base is checked against: each one's stored facts are checked first.
  return compatibilityMatrix(lora, header, (await registryFor(deps.db, { teamId })).map(checkedEntry))
}
