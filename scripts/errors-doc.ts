import { PROBLEMS, type ProblemCode, problemCodes } from '../src/lib/problems'

export const ERRORS_DOC_PATH = new URL('../docs/errors.md', import.meta.url).pathname

const cell = (text: string) => text.replace(/\|/g, '\\|')

/** The codes in the order of the table: by status, then by code. */
export const tableOrder = (): ProblemCode[] =>
  [...problemCodes].sort((a, b) => PROBLEMS[a].status - PROBLEMS[b].status || a.localeCompare(b))

/** docs/errors.md, generated from the registry; a test keeps the committed file in step. */
export function errorsDocSource(): string {
  const rows = tableOrder().map((code) => {
    const { status, title, when } = PROBLEMS[code]
    return `| \`${code}\` | ${status} | ${cell(title)} | ${cell(when)} |`
  })
  return `<!-- Generated from src/lib/problems.ts by \`npm run docs:errors\`. Do not edit. -->

# Errors

Every error the API answers is an RFC 9457 problem (\`application/problem+json\`) with a stable
\`code\`; \`type\` is \`urn:refinery:problem:<code>\`, and \`status\` and \`title\` are the code's
own, as listed below. \`detail\` says what went wrong this time, \`requestId\` matches the
\`X-Request-Id\` header, and some codes add fields of their own (named in the table).

\`\`\`json
{"type":"urn:refinery:problem:email_taken","title":"Email taken","status":409,
 "detail":"An account with this email already exists.","code":"email_taken","requestId":"…"}
\`\`\`

Every \`/v1\` operation in \`/openapi.json\` declares 400, 401, 403, 429, 500 and 503, which any
of them may answer (a credential in the URL, a bad credential, a refusal, a rate limit, a
failure, an outage), plus the statuses of its own. Branch on \`code\`, not on \`detail\` or
\`title\`. The Hub protocol under \`/hf\` answers the same codes in the Hub's own shape
(\`{error, code}\` JSON, with \`X-Error-Code\` for the kinds Hub clients tell apart), and
storefront pages as HTML.

| Code | Status | Title | When |
| --- | --- | --- | --- |
${rows.join('\n')}
`
}
