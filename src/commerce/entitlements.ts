import { and, eq, isNull, or, sql } from 'drizzle-orm'
import type { Database } from '../db/types'
import { teamMembers } from '../identity/tables'
import { entitlements } from './tables'

/** The caller's live (not revoked) entitlement to an adapter, held directly or through one of their teams. */
export async function findLiveEntitlement(db: Database, userId: string, adapterId: string) {
  const [row] = await db
    .select()
    .from(entitlements)
    .where(
      and(
        eq(entitlements.adapterId, adapterId),
        isNull(entitlements.revokedAt),
        or(
          eq(entitlements.userId, userId),
          sql`${entitlements.teamId} in (select ${teamMembers.teamId} from ${teamMembers} where ${teamMembers.userId} = ${userId})`,
        ),
      ),
    )
    .limit(1)
  return row
}
