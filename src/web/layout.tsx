import type { Child } from 'hono/jsx'
import type { Principal } from '../identity'

export type PageProps = { title: string; principal: Principal | null; notice?: { text: string; error?: boolean } | undefined; children?: Child }

/** The shell of every storefront page: no client JavaScript, one stylesheet from /static. */
export function Layout({ title, principal, notice, children }: PageProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Refinery`}</title>
        <link rel="stylesheet" href="/static/refinery.css" />
        <link rel="icon" href="data:," />
      </head>
      <body>
        <header class="site">
          <div class="bar">
            <a class="brand" href="/">
              Refinery
            </a>
            <span class="muted">LoRA adapters, checked against your base model before you buy</span>
            <nav aria-label="Account">
              {principal ? (
                <>
                  <a href="/me">My adapters</a>
                  <form method="post" action="/logout">
                    <button class="secondary" type="submit">
                      Sign out
                    </button>
                  </form>
                </>
              ) : (
                <>
                  <a href="/login">Sign in</a>
                  <a href="/signup">Create account</a>
                </>
              )}
            </nav>
          </div>
        </header>
        <main id="main">
          {notice && (
            <p class={notice.error ? 'notice error' : 'notice'} role={notice.error ? 'alert' : 'status'}>
              {notice.text}
            </p>
          )}
          {children}
        </main>
      </body>
    </html>
  )
}
