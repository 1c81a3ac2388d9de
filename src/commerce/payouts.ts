import { eq } from 'drizzle-orm'
import { requireScope } from '../identity'
import { loadTeamAs, requireRole } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { callStripe, requirePayments } from './payments'
import { payoutAccounts } from './tables'

/**
 * Connects a seller team to Stripe (an Express account, made once per team) and returns the
 * onboarding link. Stripe reports the outcome with `account.updated`; paid offers need
 * `chargesEnabled`.
 */
export async function startPayoutOnboarding(ctx: ServiceContext & Pick<Deps, 'payments' | 'publicUrl'>, teamSlug: string) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team, role } = await loadTeamAs(ctx.db, caller, teamSlug)
  requireRole(role, ['owner', 'admin'], 'set up payouts')
  const payments = requirePayments(ctx.payments)
  let [account] = await ctx.db.select().from(payoutAccounts).where(eq(payoutAccounts.teamId, team.id))
  if (!account) {
    // The key makes a retry after a timeout find the account Stripe may already have made.
    const created = await callStripe(() =>
      payments.stripe.accounts.create({ type: 'express', metadata: { teamId: team.id, team: team.slug } }, { idempotencyKey: `connect-account:${team.id}` }),
    )
    ;[account] = await ctx.db
        .insert(payoutAccounts)
        .values({ teamId: team.id, stripeAccountId: created.id, chargesEnabled: created.charges_enabled ?? false, payoutsEnabled: created.payouts_enabled ?? false })
      .onConflictDoNothing()
      .returning()
    account ??= (await ctx.db.select().from(payoutAccounts).where(eq(payoutAccounts.teamId, team.id)))[0]
  }
  if (!account) throw new Error('payout account vanished')
  const { stripeAccountId } = account
  const link = await callStripe(() =>
    payments.stripe.accountLinks.create({
      account: stripeAccountId,
      type: 'account_onboarding',
      refresh_url: `${ctx.publicUrl}/v1/teams/${team.slug}/payouts/onboarding?refresh=1`,
      return_url: `${ctx.publicUrl}/v1/teams/${team.slug}/sales`,
    }),
  )
  return { url: link.url, accountId: stripeAccountId, chargesEnabled: account.chargesEnabled, payoutsEnabled: account.payoutsEnabled }
}
