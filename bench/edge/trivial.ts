/** The yardstick for `/health` on workerd: the same JSON from a Worker that does nothing else. */
export default {
  fetch: () => Response.json({ status: 'ok' }),
}
