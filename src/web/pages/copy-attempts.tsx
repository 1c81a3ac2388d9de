import type { listFingerprintMatches } from '../../publishing'

type Attempt = Awaited<ReturnType<typeof listFingerprintMatches>>['items'][number]

/** How many attempts the team page shows; the API pages through the rest. */
export const COPY_ATTEMPTS_SHOWN = 20

/**
 * Seller protection on the team page: other teams' uploads that computed the same function as one
 * of this team's versions (what `listFingerprintMatches` returns), newest first.
 */
export function CopyAttempts({ team, attempts, more }: { team: string; attempts: Attempt[]; more: boolean }) {
  return (
    <section aria-labelledby="copy-attempts">
      <h2 id="copy-attempts">Copy attempts</h2>
      {attempts.length === 0 ? (
        <p class="card">No other team has uploaded a copy of your versions.</p>
      ) : (
        <table aria-labelledby="copy-attempts">
          <thead>
            <tr>
              <th scope="col">Your version</th>
              <th scope="col">Uploaded by</th>
              <th scope="col">Copied</th>
              <th scope="col">Outcome</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {attempts.map((attempt) => (
              <tr>
                <td class="mono">{attempt.original}</td>
                <td class="mono">{attempt.attemptedBy}</td>
                <td>
                  {attempt.matchedModules} of {attempt.totalModules} modules{attempt.kind === 'exact' ? ', the same bytes' : ''}
                  <div class="muted">similarity {attempt.similarity.toFixed(3)}</div>
                </td>
                <td>
                  {attempt.outcome === 'rejected' ? (
                    <span class="badge yes">rejected as a duplicate</span>
                  ) : attempt.verdict === 'flagged' ? (
                    <span class="badge no">flagged for review</span>
                  ) : (
                    <span class="badge no">overruled by an operator</span>
                  )}
                </td>
                <td>{attempt.at.slice(0, 10)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {more && (
        <p class="muted">
          Older attempts: <code>GET /v1/teams/{team}/fingerprint-matches</code>.
        </p>
      )}
    </section>
  )
}
