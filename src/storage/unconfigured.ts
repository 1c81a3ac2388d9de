import { ApiError } from '../lib/errors'
import type { AppServedEndpoint, ObjectStore } from './types'

/**
 * The store of a Worker given neither S3 settings nor an R2 binding: everything that touches a
 * file answers 503 `storage_not_configured`, everything else (health, accounts, the catalog) works.
 */
export function createUnconfiguredStore(detail: string): ObjectStore & AppServedEndpoint {
  const refuse = async (): Promise<never> => {
    throw new ApiError('storage_not_configured', detail)
  }
  return {
    kind: 'none',
    planUpload: refuse,
    completeMultipart: refuse,
    // Nothing was ever started, so there is nothing to abort.
    abortMultipart: async () => {},
    head: refuse,
    getRange: refuse,
    getStream: refuse,
    presignGet: refuse,
    delete: refuse,
    receive: refuse,
    open: refuse,
  }
}
