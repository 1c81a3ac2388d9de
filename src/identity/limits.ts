import type { Config } from '../config'
import type { Deps } from '../lib/context'
import { createRateLimiter } from '../lib/rate-limit'

type SignInLimits = Pick<
  Config,
  | 'LOGIN_ATTEMPTS_PER_MINUTE'
  | 'LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE'
  | 'LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE'
  | 'SIGNUPS_PER_ADDRESS_PER_HOUR'
  | 'SIGNUPS_GLOBAL_PER_MINUTE'
>

/** The login and sign-up limiters the configuration asks for (0 turns one off); in memory, per process or isolate. */
export function createSignInLimiters(config: SignInLimits): Pick<
  Deps,
  'loginLimiter' | 'loginAddressLimiter' | 'loginGlobalLimiter' | 'signupAddressLimiter' | 'signupGlobalLimiter'
> {
  const limiter = (limit: number, windowSeconds: number) => (limit > 0 ? createRateLimiter({ limit, windowSeconds }) : undefined)
  return {
    loginLimiter: limiter(config.LOGIN_ATTEMPTS_PER_MINUTE, 60),
    loginAddressLimiter: limiter(config.LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE, 60),
    loginGlobalLimiter: limiter(config.LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE, 60),
    signupAddressLimiter: limiter(config.SIGNUPS_PER_ADDRESS_PER_HOUR, 3600),
    signupGlobalLimiter: limiter(config.SIGNUPS_GLOBAL_PER_MINUTE, 60),
  }
}
