/**
 * The part of `node:crypto` the Worker uses, for tsconfig.worker.json (the Node program takes
 * these from @types/node; this file is excluded there). src/storage/sigv4.ts signs S3 download
 * URLs with synchronous SHA-256 and HMAC-SHA256, ~15× faster than Web Crypto for inputs this
 * small; workerd provides the module under the `nodejs_compat` flag (wrangler.toml). Only these
 * two functions with these arguments are declared, so any other use of Node's crypto in code that
 * runs in workerd fails the check until it is added here on purpose. `digest()` returns a Buffer
 * on both runtimes, declared as the Uint8Array it extends.
 */
declare module 'node:crypto' {
  export interface Hash {
    update(data: string | Uint8Array): Hash
    digest(): Uint8Array
    digest(encoding: 'hex'): string
  }
  export interface Hmac {
    update(data: string | Uint8Array): Hmac
    digest(): Uint8Array
    digest(encoding: 'hex'): string
  }
  export function createHash(algorithm: 'sha256'): Hash
  export function createHmac(algorithm: 'sha256', key: string | Uint8Array): Hmac
}
