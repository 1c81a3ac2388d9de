import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, publicUrlOf } from '../src/config'

describe('parseConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const config = parseConfig({})
    expect(config).toMatchObject({ PORT: 8787, HOST: '127.0.0.1', REFINERY_DATA_DIR: './.refinery', PASSWORD_ITERATIONS: 600_000 })
    expect(config.DATABASE_URL).toBeUndefined()
    expect(publicUrlOf(config)).toBe('http://localhost:8787')
  })

  it('treats empty variables as unset', () => {
    expect(parseConfig({ DATABASE_URL: '', JWT_SECRET: '' }).DATABASE_URL).toBeUndefined()
  })

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ PASSWORD_ITERATIONS: '1000' }, 'PASSWORD_ITERATIONS'],
    [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL'],
    [{ S3_PART_BYTES: '1048576' }, 'S3_PART_BYTES'],
  ])('fails naming the variable for %j', (env, variable) => {
    expect(() => parseConfig(env)).toThrow(ConfigError)
    expect(() => parseConfig(env)).toThrow(new RegExp(`^Invalid configuration:\\n  ${variable}:`))
  })
})
