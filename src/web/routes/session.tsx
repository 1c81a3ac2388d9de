import { Hono } from 'hono'
import { login, signup } from '../../identity'
import { logout } from '../../identity'
import { EmailSchema, PasswordSchema } from '../../identity'
import { type AppEnv, clientAddressOf } from '../../lib/context'
import { ApiError } from '../../lib/errors'
import { formPost, page, safeNext, webContext } from '../common'
import { SignInPage } from '../pages/account'
import { endSession, startSession } from '../session'

/** Sign in, create an account, sign out: the login and signup verbs, with the token in a cookie. */
export const sessionRoutes = new Hono<AppEnv>()
  .get('/login', (c) => page(c, <SignInPage mode="login" next={safeNext(c.req.query('next'), c.get('deps').publicUrl)} />))
  .get('/signup', (c) => page(c, <SignInPage mode="signup" next={safeNext(c.req.query('next'), c.get('deps').publicUrl)} />))
  .post('/login', ...formPost, async (c) => {
    const form = await c.req.parseBody()
    const next = safeNext(form.next, c.get('deps').publicUrl)
    const email = String(form.email ?? '')
    try {
      const session = await login(c.get('deps'), { email, password: String(form.password ?? '') }, { address: clientAddressOf(c) })
      startSession(c, session.token, session.expiresAt)
      return c.redirect(next, 303)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error
      return page(c, <SignInPage mode="login" next={next} email={email} error={error.message} />, error.status)
    }
  })
  .post('/signup', ...formPost, async (c) => {
    const form = await c.req.parseBody()
    const next = safeNext(form.next, c.get('deps').publicUrl)
    const email = EmailSchema.safeParse(form.email)
    const password = PasswordSchema.safeParse(form.password)
    const name = String(form.name ?? '').trim()
    if (!email.success || !password.success || name.length === 0 || name.length > 100) {
      const error = !email.success ? 'Enter a valid email address.' : !password.success ? 'Choose a password of at least 8 characters.' : 'Enter your name.'
      return page(c, <SignInPage mode="signup" next={next} email={String(form.email ?? '')} error={error} />, 422)
    }
    try {
      const account = await signup(c.get('deps'), { email: email.data, password: password.data, name }, { address: clientAddressOf(c) })
      startSession(c, account.token, account.expiresAt)
      return c.redirect(next, 303)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error
      return page(c, <SignInPage mode="signup" next={next} email={email.data} error={error.message} />, error.status)
    }
  })
  .post('/logout', ...formPost, async (c) => {
    // The cookie's token is revoked, not only forgotten: a copy of it stops working too.
    const ctx = await webContext(c)
    if (ctx.principal) await logout(ctx)
    endSession(c)
    return c.redirect('/', 303)
  })
