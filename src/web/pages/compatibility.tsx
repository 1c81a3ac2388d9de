import type { Finding, RuntimeVerdict, Runtimes } from '../../compat'
import type { getVersionCompatibility } from '../../publishing'

export type CompatRow = Awaited<ReturnType<typeof getVersionCompatibility>>['items'][number]

const ENGINES: [keyof Runtimes, string][] = [
  ['vllm', 'vLLM'],
  ['lorax', 'LoRAX'],
  ['tgi', 'TGI'],
  ['llamacpp', 'llama.cpp'],
]

export const yesNo = (value: boolean) => (value ? 'yes' : 'no')

/** One engine's verdict as text (not colour alone): "vLLM: yes", or "vLLM: no" and why. */
function EngineVerdict({ label, verdict }: { label: string; verdict: RuntimeVerdict }) {
  return (
    <li class="engine">
      <span class={`badge ${yesNo(verdict.compatible)}`}>
        {label}: {yesNo(verdict.compatible)}
      </span>
      {!verdict.compatible && verdict.reasons.length > 0 && <span class="reason"> {verdict.reasons.join(' ')}</span>}
      {verdict.notes && verdict.notes.length > 0 && <span class="muted note"> {verdict.notes.join(' ')}</span>}
    </li>
  )
}

export function Engines({ runtimes, fits = true }: { runtimes: Runtimes; fits?: boolean }) {
  const list = (
    <ul class="engines">
      {ENGINES.map(([key, label]) => (
        <EngineVerdict label={label} verdict={runtimes[key]} />
      ))}
    </ul>
  )
  if (fits) return list
  // On a base the tensors do not fit, every engine says no for the same reason: badges first, reasons on demand.
  return (
    <details>
      <summary>
        {ENGINES.map(([key, label]) => (
          <span class={`badge ${yesNo(runtimes[key].compatible)}`}>
            {label}: {yesNo(runtimes[key].compatible)}
          </span>
        ))}
      </summary>
      {list}
    </details>
  )
}

export function Findings({ findings }: { findings: Finding[] }) {
  const shown = findings.filter((finding) => finding.severity !== 'info')
  if (shown.length === 0) return null
  return (
    <ul class="findings">
      {shown.map((finding) => (
        <li>
          <strong>{finding.severity === 'error' ? 'Error' : 'Warning'}:</strong> {finding.message}
          {finding.tensor && <code> {finding.tensor}</code>}
        </li>
      ))}
    </ul>
  )
}

/** Every registered base (the verb lists the fitting ones first), in a box that scrolls so the widest row never pushes the page sideways. */
export function CompatibilityTable({ rows }: { rows: CompatRow[] }) {
  return (
    <div class="scroll">
      <table id="compatibility">
        <caption class="sr-only">Compatibility of this version with every registered base model</caption>
        <thead>
          <tr>
            <th scope="col">Base model</th>
            <th scope="col">Verdict</th>
            <th scope="col">Serving engines</th>
            <th scope="col">Shape twins</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const firstError = row.findings.find((finding) => finding.severity === 'error')
            return (
              <tr data-base={row.base} data-verdict={row.compatible ? 'compatible' : 'incompatible'}>
                <th scope="row" class="mono">
                  {row.base}
                </th>
                <td>
                  <span class={`verdict ${yesNo(row.compatible)}`}>{row.compatible ? 'Compatible' : 'Incompatible'}</span>
                </td>
                <td>
                  <Engines runtimes={row.runtimes} fits={row.compatible} />
                </td>
                <td>{row.twins.length > 0 ? <span class="mono">{row.twins.join(', ')}</span> : <span class="muted">none</span>}</td>
                <td>{firstError ? firstError.message : ''}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
