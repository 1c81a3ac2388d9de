/** A JSON caller for the benchmarks' setup: method, optional bearer token and body; answers the parsed body. */
export function jsonCaller(base: string) {
  return async (path: string, init: { method?: string; token?: string; body?: unknown } = {}) => {
    const response = await fetch(base + path, {
      method: init.method ?? 'GET',
      headers: { 'Content-Type': 'application/json', ...(init.token && { Authorization: `Bearer ${init.token}` }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
    return response.json() as Promise<any>
  }
}
