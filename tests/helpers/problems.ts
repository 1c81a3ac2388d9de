import { expect } from 'vitest'
import { PROBLEMS, type ProblemCode } from '../../src/lib/problems'

type ProblemResponse = { status: number; headers: Headers; json: any }

/**
 * Asserts the RFC 9457 problem contract: status, media type, stable code, request id, and the
 * status and title the registry (src/lib/problems.ts) gives the code.
 */
export function expectProblem(response: ProblemResponse, status: number, code: ProblemCode) {
  expect({ status: response.status, code: response.json?.code }).toEqual({ status, code })
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(response.json).toMatchObject({ status, code, type: `urn:refinery:problem:${code}` })
  expect({ status: response.json.status, title: response.json.title }, `${code} as the registry has it`).toEqual({ status: PROBLEMS[code].status, title: PROBLEMS[code].title })
  expect(typeof response.json.detail).toBe('string')
  expect(response.json.requestId).toBe(response.headers.get('x-request-id'))
}
