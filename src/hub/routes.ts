import { Hono } from 'hono'
import { FilePathSchema } from '../publishing'
import { downloadClientOf, linkHeaders } from '../downloads'
import { SlugSchema } from '../identity'
import { type AppEnv, serviceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { listTree, modelInfo, resolveFile } from './repos'

/**
 * The Hugging Face Hub protocol under /hf (`HF_ENDPOINT=<PUBLIC_URL>/hf`), for huggingface_hub,
 * PEFT, vLLM, LoRAX, TGI and @huggingface/hub. Not part of /openapi.json: its paths, errors and
 * shapes are the Hub's, not this API's (tests/hub/authorization.test.ts is its access matrix).
 */
export const hubRoutes = new Hono<AppEnv>()
  .get('/hf/api/models/:team/:slug', async (c) => c.json(await modelInfo(serviceContext(c), repoOf(c), 'main')))
  .get('/hf/api/models/:team/:slug/revision/:revision', async (c) => c.json(await modelInfo(serviceContext(c), repoOf(c), c.req.param('revision'))))
  .get('/hf/api/models/:team/:slug/tree/:revision/:path{.+}?', async (c) => {
    const options = { path: c.req.param('path') ?? '', recursive: flag(c.req.query('recursive')), expand: flag(c.req.query('expand')) }
    return c.json(await listTree(serviceContext(c), repoOf(c), c.req.param('revision'), options))
  })
  // HEAD is answered by this handler too (Hono drops the body): huggingface_hub asks HEAD first.
  .get('/hf/:team/:slug/resolve/:revision/:path{.+}', async (c) => {
    const path = c.req.param('path')
    if (!FilePathSchema.safeParse(path).success) throw new ApiError('entry_not_found', `Entry not found: ${path}.`)
    const link = await resolveFile(serviceContext(c), { ...repoOf(c), revision: c.req.param('revision'), path }, downloadClientOf(c))
    // The metadata rides on the redirect itself: clients that do not follow it to another host read it here.
    const etag = `"${link.sha256}"`
    return c.body(null, 302, {
      ...linkHeaders(link),
      Location: link.url,
      'X-Repo-Commit': link.commit,
      ETag: etag,
      'X-Linked-Etag': etag,
      'X-Linked-Size': String(link.size),
    })
  })

function repoOf(c: { req: { param(name: 'team' | 'slug'): string } }) {
  const team = c.req.param('team')
  const slug = c.req.param('slug')
  if (!SlugSchema.safeParse(team).success || !SlugSchema.safeParse(slug).success) {
    throw new ApiError('repo_not_found', `Repository Not Found: ${team}/${slug}.`)
  }
  return { team, slug }
}

const flag = (value: string | undefined) => value !== undefined && ['1', 'true'].includes(value.toLowerCase())
