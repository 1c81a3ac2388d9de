/**
 * CPython's verdicts on the cases of tests/compat/python-regex.test.ts, from python3's own `re`:
 *
 *   npx tsx scripts/python-regex-verdicts.ts           writes tests/compat/fixtures/python-regex-verdicts.json
 *   npx tsx scripts/python-regex-verdicts.ts --check   exits 1 when that file differs from what python3 says now
 *
 * Run it after changing tests/compat/fixtures/python-regex-cases.ts (the test fails until the
 * fixture holds the same cases) and commit both. python3 is the first on PATH; its version is
 * recorded in the fixture, since `re` changes between versions (`\B` on an empty string, 3.14).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PATTERNS, SUBJECTS } from '../tests/compat/fixtures/python-regex-cases'

const FIXTURE = fileURLToPath(new URL('../tests/compat/fixtures/python-regex-verdicts.json', import.meta.url))

// Reads {patterns, subjects} on stdin; per pattern: the indices of the subjects re.fullmatch and
// re.match accept, or the message re.compile raises.
const PROGRAM = String.raw`
import json, platform, re, sys
cases = json.load(sys.stdin)
subjects = cases['subjects']
verdicts = []
for pattern in cases['patterns']:
    try:
        regex = re.compile(pattern)
    except re.error as error:
        verdicts.append({'pattern': pattern, 'error': str(error)})
        continue
    verdicts.append({
        'pattern': pattern,
        'fullMatch': [i for i, s in enumerate(subjects) if regex.fullmatch(s)],
        'matchStart': [i for i, s in enumerate(subjects) if regex.match(s)],
    })
json.dump({'python': platform.python_version(), 'subjects': subjects, 'verdicts': verdicts}, sys.stdout, ensure_ascii=False)
`

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } })
const run = spawnSync('python3', ['-c', PROGRAM], { input: JSON.stringify({ patterns: PATTERNS, subjects: SUBJECTS }), encoding: 'utf8' })
if (run.status !== 0) {
  console.error(run.error?.message ?? run.stderr)
  process.exit(1)
}
const text = `${JSON.stringify({ generatedBy: 'npx tsx scripts/python-regex-verdicts.ts', ...JSON.parse(run.stdout) }, null, 2)}\n`
if (values.check) {
  let committed = ''
  try {
    committed = readFileSync(FIXTURE, 'utf8')
  } catch {}
  if (committed !== text) {
    console.error(`${FIXTURE} is stale: run npx tsx scripts/python-regex-verdicts.ts and commit it`)
    process.exit(1)
  }
  console.log(`${FIXTURE} matches python3's re`)
} else {
  writeFileSync(FIXTURE, text)
  console.log(`wrote ${FIXTURE}`)
}
