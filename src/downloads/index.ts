export { checksTokenVersionItself, downloadClientOf, downloadRoutes, linkHeaders } from './routes'
export { DEFAULT_DOWNLOAD_URL_TTL_SECONDS, downloadFile, rollupDownloads } from './downloads'
export { createDownloadLog, type DownloadLog } from './audit'
export { getSalesReport } from './sales'
