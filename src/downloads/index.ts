export { downloadRoutes } from './routes'
export { DEFAULT_DOWNLOAD_URL_TTL_SECONDS, rollupDownloads } from './downloads'
export { createRateLimiter, type RateLimiter } from './rate-limit'
export { createDownloadLog, type DownloadLog } from './audit'
