import { and, eq, inArray, isNull } from 'drizzle-orm'
import { expect } from 'vitest'
import { adapterVersions, versionCompatibility } from '../../src/publishing/tables'
import { listRegistry } from '../../src/registry/registry'
import { entitlements, orders, stripeEvents } from '../../src/commerce/tables'
import { runMaintenance } from '../../src/maintenance'
import { STUCK_VALIDATION_AFTER_MS } from '../../src/maintenance'
import type { Harness } from '../helpers/harness'

/**
 * What must hold once a fault is over, whatever it interrupted:
 * - no lost order: every stored payment event was applied, and every paid order holds exactly
 *   one entitlement (none for an order still pending);
 * - no duplicate entitlement: one per (holder, adapter, source);
 * - no version stuck: what is left in `validating` is finished by upkeep (`runMaintenance`),
 *   and every validated version has one compatibility row per registered base, no more.
 */
export async function expectRecovered(h: Harness, options: { /** Runs the jobs upkeep queued (default: the harness's in-process queue). */ idle?: () => Promise<void> } = {}) {
  const unprocessed = await h.db
    .select({ id: stripeEvents.id, waitingFor: stripeEvents.waitingFor })
    .from(stripeEvents)
    .where(isNull(stripeEvents.processedAt))
  expect(unprocessed.filter((event) => !event.waitingFor)).toEqual([])

  const allOrders = await h.db.select().from(orders)
  const granted = await h.db.select().from(entitlements)
  for (const order of allOrders) {
    const fromOrder = granted.filter((row) => row.source === 'order' && row.sourceId === order.id)
    if (order.status === 'pending' || order.status === 'expired') expect(fromOrder, `order ${order.id} (${order.status})`).toEqual([])
    else expect(fromOrder, `order ${order.id} (${order.status})`).toHaveLength(1)
  }
  const holderKeys = granted.map((row) => `${row.userId ?? row.teamId}|${row.adapterId}|${row.source}|${row.sourceId}`)
  expect(new Set(holderKeys).size).toBe(holderKeys.length)

  const validating = await h.db.select({ id: adapterVersions.id }).from(adapterVersions).where(eq(adapterVersions.status, 'validating'))
  if (validating.length > 0) {
    h.advanceClock(STUCK_VALIDATION_AFTER_MS + 1000)
    expect((await runMaintenance(h.deps)).requeuedValidations).toBe(validating.length)
    await (options.idle ?? h.idle)()
    const still = await h.db
      .select({ id: adapterVersions.id })
      .from(adapterVersions)
      .where(and(eq(adapterVersions.status, 'validating'), inArray(adapterVersions.id, validating.map((row) => row.id))))
    expect(still).toEqual([])
  }

  const bases = (await listRegistry(h.db)).length
  const validated = await h.db.select({ id: adapterVersions.id }).from(adapterVersions).where(inArray(adapterVersions.status, ['ready', 'published']))
  const rows = await h.db.select({ versionId: versionCompatibility.versionId, base: versionCompatibility.baseModel }).from(versionCompatibility)
  for (const { id } of validated) {
    const matrix = rows.filter((row) => row.versionId === id)
    expect(matrix).toHaveLength(bases)
    expect(new Set(matrix.map((row) => row.base)).size).toBe(bases)
  }
}
