import fc from 'fast-check'

// Property tests draw a new seed on every local run, to keep finding things. CI uses a fixed
// one (FUZZ_SEED overrides it anywhere), so a red CI means the change broke something, not that
// this run's dice found an old bug; a failure prints its seed to replay it with FUZZ_SEED.
const seed = process.env.FUZZ_SEED ?? (process.env.CI ? '20261126' : undefined)
if (seed !== undefined) fc.configureGlobal({ seed: Number(seed) })
