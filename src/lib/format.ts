const UNITS = ['B', 'kB', 'MB', 'GB', 'TB']

/** 1050680 → "1.05 MB" (decimal units, as disks and downloads are sold). */
export function formatBytes(bytes: number) {
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit += 1
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

/** Minor units and an ISO currency code → "$49.90". */
export const formatPrice = (amount: number, currency: string) =>
  new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() }).format(amount / 100)
