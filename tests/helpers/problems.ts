import { expect } from 'vitest'

type ProblemResponse = { status: number; headers: Headers; json: any }

/** Asserts the RFC 9457 problem contract: status, media type, stable code, request id. */
export function expectProblem(response: ProblemResponse, status: number, code: string) {
  expect({ status: response.status, code: response.json?.code }).toEqual({ status, code })
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(response.json).toMatchObject({ status, code, type: `urn:refinery:problem:${code}` })
  expect(typeof response.json.title).toBe('string')
  expect(typeof response.json.detail).toBe('string')
  expect(response.json.requestId).toBe(response.headers.get('x-request-id'))
}
