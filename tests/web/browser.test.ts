import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, data } from '../../src/client'
import { peftFolder, sha256 } from '../helpers/adapters'
import { runCli, writeFolder } from '../helpers/cli'
import { startTestServer } from '../helpers/server'

const CHROMIUM = '/usr/bin/chromium'
/** Screenshots of each step, kept as test artefacts (CI keeps .tmp/). */
const SHOTS = join(process.cwd(), '.tmp', 'screenshots')

// CI installs Debian's chromium (.ci/run); elsewhere the test runs when it is there.
describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('the storefront in a real browser (Debian chromium, headless)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>
  let browser: Browser
  let dir: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
  const buyer = { email: 'browser-buyer@example.test', password: 'correct horse battery staple' }

  beforeAll(async () => {
    server = await startTestServer({ storage: 'local' })
    dir = await mkdtemp(join(tmpdir(), 'refinery-browser-'))
    await mkdir(SHOTS, { recursive: true })
    // A seller publishes a Llama-2 adapter with a free offer, through the typed client and the CLI.
    const api = createClient({ url: server.url })
    const seller = await data(api.POST('/v1/signup', { body: { email: 'browser-seller@example.test', password: 'seller password 123', name: 'Seller' } }))
    const env = { REFINERY_URL: server.url, REFINERY_API_KEY: seller.token, REFINERY_CONFIG_DIR: join(dir, 'config') }
    expect((await runCli(['team', 'create', 'acme-labs'], { env })).code).toBe(0)
    const listing = ['adapter', 'create', 'acme-labs/legal-zh', '--title', 'Chinese contract law assistant', '--summary', 'Answers questions about contract law']
    expect((await runCli([...listing, '--license', 'Apache-2.0', '--commercial', '--task', 'chat', '--visibility', 'published'], { env })).code).toBe(0)
    const folder = await writeFolder(join(dir, 'adapter'), files)
    expect((await runCli(['publish', folder, '--adapter', 'acme-labs/legal-zh', '--version', '1.0.0', '--publish'], { env })).code).toBe(0)
    expect((await runCli(['offer', 'create', 'acme-labs/legal-zh', '--free', '--license', 'research'], { env })).code).toBe(0)
    await data(api.POST('/v1/signup', { body: { ...buyer, name: 'Buyer' } }))

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** Elements that stick out past the right edge of the window (a page wider than the screen): none expected. */
  const overflowing = (page: Page) =>
    page.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !element.closest('.scroll'))
        .map((element) => `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}.${element.className}`),
    )

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  it('searches by base model, opens an adapter, sees an incompatible base marked, claims the free offer and downloads', async () => {
    const context = await browser.newContext({ acceptDownloads: true })
    const page = await context.newPage()
    const failed: string[] = []
    // A navigation that turns into a download is reported as an aborted request: not a failure.
    page.on('requestfailed', (request) => request.failure()?.errorText !== 'net::ERR_ABORTED' && failed.push(request.url()))
    page.on('console', (message) => message.type() === 'error' && failed.push(message.text()))

    // Search by the base model the buyer runs: a plain GET form, no JavaScript.
    await page.goto(server.url)
    await page.getByLabel('Base model you run').selectOption('meta-llama/Llama-2-7b-hf')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.waitForURL(/base=meta-llama%2FLlama-2-7b-hf/)
    await shot(page, '1-search')
    // The result link keeps the base: the page opens on its verdict, and the check form preselects it.
    await page.getByRole('link', { name: 'Chinese contract law assistant' }).click()
    await page.waitForURL(`${server.url}/acme-labs/legal-zh?base=meta-llama%2FLlama-2-7b-hf`)
    await shot(page, '2-adapter')
    expect(await page.locator('#decision #base-verdict').getAttribute('data-verdict')).toBe('compatible')
    expect(await page.locator('#check select[name="base"]').inputValue()).toBe('meta-llama/Llama-2-7b-hf')
    // The full matrix is collapsed below; opened, it scrolls inside its column instead of widening the page.
    await page.locator('details.matrix > summary').click()
    await page.locator('#compatibility').screenshot({ path: join(SHOTS, '2b-compatibility.png') })
    expect(await overflowing(page)).toEqual([])

    // The compatibility table marks Mistral-7B as incompatible, with a visible reason.
    const mistral = page.locator('#compatibility tr[data-base="mistralai/Mistral-7B-v0.1"]')
    await expect.poll(() => mistral.getAttribute('data-verdict')).toBe('incompatible')
    expect(await mistral.innerText()).toContain('Incompatible')
    expect(await page.locator('#compatibility tr[data-base="meta-llama/Llama-2-7b-hf"]').getAttribute('data-verdict')).toBe('compatible')

    // "Check my base model": pick one, see the verdict for this adapter.
    await page.locator('#check select[name="base"]').selectOption('mistralai/Mistral-7B-v0.1')
    await page.locator('#check button[type="submit"]').click()
    await expect.poll(() => page.locator('#decision #check-result').getAttribute('data-verdict')).toBe('incompatible')
    // The answer is in the decision area, in view without scrolling.
    const answer = await page.locator('#check-result').boundingBox()
    expect(answer && answer.y < (page.viewportSize()?.height ?? 0)).toBe(true)
    await shot(page, '3-check')

    // Claiming the free offer asks for a sign-in first, then comes back and grants it.
    await page.getByRole('button', { name: 'Get free' }).click()
    await page.waitForURL(/\/login\?next=/)
    await page.getByLabel('Email').fill(buyer.email)
    await page.getByLabel('Password').fill(buyer.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${server.url}/acme-labs/legal-zh`)
    await page.getByRole('button', { name: 'Get free' }).click()
    await page.waitForURL(/\/me\?claimed=/)
    await shot(page, '4-me')

    // Download from the buyer page: the bytes are the seller's.
    const downloading = page.waitForEvent('download')
    await page.getByRole('link', { name: 'Download adapter_model.safetensors' }).click()
    const download = await downloading
    const saved = join(dir, 'downloaded.safetensors')
    await download.saveAs(saved)
    expect(sha256(await readFile(saved))).toBe(sha256(files.find((file) => file.path === 'adapter_model.safetensors')!.bytes))
    expect(failed).toEqual([])
    await context.close()
  })

  for (const [name, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    it(`shows the verdict and the Buy button without scrolling on a ${name} (${viewport.width}×${viewport.height})`, async () => {
      const context = await browser.newContext({ viewport, ...(name === 'phone' && { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }) })
      const page = await context.newPage()
      await page.goto(`${server.url}/acme-labs/legal-zh?base=meta-llama%2FLlama-2-7b-hf`)
      const buy = await page.getByRole('button', { name: 'Get free' }).boundingBox()
      const verdict = await page.locator('#base-verdict').boundingBox()
      expect(buy).not.toBeNull()
      expect((buy?.y ?? Infinity) + (buy?.height ?? 0)).toBeLessThan(viewport.height)
      expect(verdict?.y ?? Infinity).toBeLessThan(viewport.height)
      // Nothing wider than the screen.
      expect(await overflowing(page)).toEqual([])
      await page.screenshot({ path: join(SHOTS, `7-adapter-first-viewport-${name}.png`) })
      await context.close()
    })
  }

  it('lets a seller create a listing, upload a version from the browser (with progress), publish it and add an offer', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()))
    page.on('pageerror', (error) => problems.push(error.message))
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`))
    })
    await page.goto(`${server.url}/login?next=%2Fteams%2Facme-labs`)
    await page.getByLabel('Email').fill('browser-seller@example.test')
    await page.getByLabel('Password').fill('seller password 123')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${server.url}/teams/acme-labs`)

    await page.locator('#new-listing > summary').click()
    await page.getByLabel('Address (lower-case letters, digits and dashes)').fill('tax-zh')
    await page.getByLabel('Title').fill('Chinese tax law assistant')
    await page.getByLabel('Summary (one line, shown in search)').fill('Answers tax questions')
    await page.getByLabel('Licence (SPDX id)').fill('Apache-2.0')
    await page.getByLabel('Visibility').selectOption('published')
    await page.getByRole('button', { name: 'Create listing' }).click()
    await page.waitForURL(`${server.url}/teams/acme-labs/listings/tax-zh?done=created`)

    // The script takes over the form: its no-script notice is hidden, the declared base preselected from adapter_config.json.
    expect(await page.locator('[data-without-script]').isHidden()).toBe(true)
    const upload = peftFolder({ base: 'mistralai/Mistral-7B-v0.1', r: 8 })
    await page.locator('#version-files').setInputFiles(upload.map((file) => ({ name: file.path, mimeType: 'application/octet-stream', buffer: Buffer.from(file.bytes) })))
    await expect.poll(() => page.locator('#version-base').inputValue()).toBe('mistralai/Mistral-7B-v0.1')
    await page.getByLabel('Version (semantic, such as 1.0.0)').fill('1.0.0')
    await page.getByLabel('Changelog (Markdown)').fill('Uploaded from the browser')
    await page.getByRole('button', { name: 'Upload and validate' }).click()
    await page.waitForURL(/\?uploaded=1\.0\.0/, { timeout: 60_000 })
    expect(await page.locator('tr[data-version="1.0.0"]').getAttribute('data-status')).toBe('ready')
    await shot(page, '8-seller-uploaded')
    await page.getByRole('button', { name: 'Publish 1.0.0' }).click()
    await page.waitForURL(/done=published/)
    expect(await page.locator('tr[data-version="1.0.0"]').getAttribute('data-status')).toBe('published')

    await page.locator('#offer-kind').selectOption('free')
    await page.locator('#offer-license').selectOption('research')
    await page.getByRole('button', { name: 'Add offer' }).click()
    await page.waitForURL(/done=offer-created/)
    await shot(page, '9-seller-offers')

    // What the buyer sees now, and the bytes the store holds are the seller's.
    const api = createClient({ url: server.url })
    const listing = await data(api.GET('/v1/adapters/{team}/{slug}', { params: { path: { team: 'acme-labs', slug: 'tax-zh' } } }))
    expect(listing).toMatchObject({ latestVersion: '1.0.0', visibility: 'published', compatibleBases: expect.arrayContaining(['mistralai/Mistral-7B-v0.1']) })
    const version = await data(api.GET('/v1/adapters/{team}/{slug}/versions/{version}', { params: { path: { team: 'acme-labs', slug: 'tax-zh', version: '1.0.0' } } }))
    expect(version.files.map((file) => [file.path, file.sha256]).sort()).toEqual(upload.map((file) => [file.path, sha256(file.bytes)]).sort())
    const offered = await data(api.GET('/v1/adapters/{team}/{slug}/offers', { params: { path: { team: 'acme-labs', slug: 'tax-zh' } } }))
    expect(offered.items.map((offer) => [offer.kind, offer.license, offer.active])).toEqual([['free', 'research', true]])
    expect(problems).toEqual([])
    await context.close()
  })

  it('renders the API docs (/docs) under their CSP (self-hosted Swagger UI, no inline code) without a violation', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()))
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('requestfailed', (request) => problems.push(`${request.url()} ${request.failure()?.errorText}`))
    // Installed through the browser's debugging protocol, so the page's CSP does not apply to it.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`))
    })
    await page.goto(`${server.url}/docs`)
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 15_000 })
    expect(await page.locator('.swagger-ui .info .title').innerText()).toContain('Refinery API')
    await expect.poll(() => page.locator('.swagger-ui .opblock').count(), { timeout: 15_000 }).toBeGreaterThan(10)
    await shot(page, '6-docs')
    expect(problems).toEqual([])
    await page.close()
  })

  it("shows the seller their team's listings and the chart of orders and downloads", async () => {
    const page = await browser.newPage()
    await page.goto(`${server.url}/teams/acme-labs`)
    await page.waitForURL(/\/login\?next=/)
    await page.getByLabel('Email').fill('browser-seller@example.test')
    await page.getByLabel('Password').fill('seller password 123')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${server.url}/teams/acme-labs`)
    expect(await page.getByRole('link', { name: 'Chinese contract law assistant' }).count()).toBeGreaterThan(0)
    expect(await page.locator('svg[role="img"]').count()).toBeGreaterThan(0)
    await shot(page, '5-seller')
    await page.close()
  })
})

// Files above S3_PART_BYTES go up in parts: the upload script PUTs each part to S3 itself (CORS),
// keeps each part's ETag and completes the upload. Parts of 5 MiB (S3's minimum) and an 8 MiB file.
describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('a browser upload to S3 in parts (Debian chromium, headless)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>
  let browser: Browser
  const seller = { email: 'parts-seller@example.test', password: 'seller password 123' }
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8, layers: Array.from({ length: 32 }, (_, layer) => layer) })

  beforeAll(async () => {
    server = await startTestServer({ storage: 's3', env: { S3_PART_BYTES: String(5 * 1024 * 1024) } })
    const api = createClient({ url: server.url })
    const { token } = await data(api.POST('/v1/signup', { body: { ...seller, name: 'Seller' } }))
    const auth = { headers: { Authorization: `Bearer ${token}` } }
    await data(api.POST('/v1/teams', { body: { slug: 'parts-lab', name: 'Parts Lab' }, ...auth }))
    await data(
      api.POST('/v1/adapters', {
        body: { team: 'parts-lab', slug: 'big-lora', title: 'A larger adapter', summary: 'Uploaded in parts', license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true } },
        ...auth,
      }),
    )
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('uploads each part to its signed URL and completes the version with the parts’ ETags', async () => {
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    expect(weights.bytes.length).toBeGreaterThan(5 * 1024 * 1024)
    const page = await browser.newPage()
    const problems: string[] = []
    const partPuts: string[] = []
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()))
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('requestfinished', (request) => {
      const url = new URL(request.url())
      if (request.method() === 'PUT' && url.searchParams.has('partNumber')) partPuts.push(url.searchParams.get('partNumber')!)
    })
    await page.goto(`${server.url}/login?next=%2Fteams%2Fparts-lab%2Flistings%2Fbig-lora`)
    await page.getByLabel('Email').fill(seller.email)
    await page.getByLabel('Password').fill(seller.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${server.url}/teams/parts-lab/listings/big-lora`)
    await page.locator('#version-files').setInputFiles(files.map((file) => ({ name: file.path, mimeType: 'application/octet-stream', buffer: Buffer.from(file.bytes) })))
    await expect.poll(() => page.locator('#version-base').inputValue()).toBe('meta-llama/Llama-2-7b-hf')
    await page.getByLabel('Version (semantic, such as 1.0.0)').fill('1.0.0')
    await page.getByRole('button', { name: 'Upload and validate' }).click()
    await page.waitForURL(/\?uploaded=1\.0\.0/, { timeout: 120_000 })
    expect(await page.locator('tr[data-version="1.0.0"]').getAttribute('data-status')).toBe('ready')
    expect(partPuts.sort()).toEqual(['1', '2'])

    const api = createClient({ url: server.url })
    const { token } = await data(api.POST('/v1/login', { body: seller }))
    const version = await data(
      api.GET('/v1/adapters/{team}/{slug}/versions/{version}', { params: { path: { team: 'parts-lab', slug: 'big-lora', version: '1.0.0' } }, headers: { Authorization: `Bearer ${token}` } }),
    )
    expect(version.files.map((file) => [file.path, file.sha256, file.size]).sort()).toEqual(files.map((file) => [file.path, sha256(file.bytes), file.bytes.length]).sort())
    expect(problems).toEqual([])
    await page.close()
  })
})
