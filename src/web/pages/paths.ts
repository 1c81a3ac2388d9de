/** A listing's public page. */
export const listingPath = (adapter: { team: string; slug: string }) => `/${encodeURIComponent(adapter.team)}/${encodeURIComponent(adapter.slug)}`

/** Where a team's listing is managed, and where its forms post. */
export const managePath = (team: string, slug?: string) => `/teams/${encodeURIComponent(team)}/listings${slug ? `/${encodeURIComponent(slug)}` : ''}`
