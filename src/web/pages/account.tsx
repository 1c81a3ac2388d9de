import { Layout } from '../layout'

/** Sign in and create an account: plain forms posting to the same origin. */
export function SignInPage(props: { mode: 'login' | 'signup'; next: string; email?: string; error?: string | undefined }) {
  const signup = props.mode === 'signup'
  return (
    <Layout title={signup ? 'Create an account' : 'Sign in'} principal={null} notice={props.error ? { text: props.error, error: true } : undefined}>
      <h1>{signup ? 'Create an account' : 'Sign in'}</h1>
      <form class="card stack narrow" method="post" action={signup ? '/signup' : '/login'}>
        <input type="hidden" name="next" value={props.next} />
        {signup && (
          <>
            <label for="name">Name</label>
            <input id="name" name="name" type="text" required autocomplete="name" />
          </>
        )}
        <label for="email">Email</label>
        <input id="email" name="email" type="email" required autocomplete="email" value={props.email ?? ''} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" required minlength={8} autocomplete={signup ? 'new-password' : 'current-password'} />
        <p>
          <button type="submit">{signup ? 'Create account' : 'Sign in'}</button>
        </p>
        <p class="muted">
          {signup ? (
            <>
              Have an account? <a href={`/login?next=${encodeURIComponent(props.next)}`}>Sign in</a>
            </>
          ) : (
            <>
              New here? <a href={`/signup?next=${encodeURIComponent(props.next)}`}>Create an account</a>
            </>
          )}
        </p>
      </form>
    </Layout>
  )
}

export function ErrorPage(props: { title: string; detail: string }) {
  return (
    <Layout title={props.title} principal={null}>
      <h1>{props.title}</h1>
      <p>{props.detail}</p>
      <p>
        <a href="/">Back to search</a>
      </p>
    </Layout>
  )
}
