export { checksTokenVersionItself, downloadRoutes } from './routes'
export { DEFAULT_DOWNLOAD_URL_TTL_SECONDS, rollupDownloads } from './downloads'
export { createDownloadLog, type DownloadLog } from './audit'
