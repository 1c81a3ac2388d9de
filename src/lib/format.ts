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

/**
 * A price as people type it, in the currency's major unit ("49", "49.9", "49.90"), in the minor
 * units (cents) the API counts in; undefined when it is not such an amount. Every currency we
 * sell in has two decimals (src/commerce/schemas.ts).
 */
export function parseMajorUnits(text: string): number | undefined {
  if (!/^\d{1,9}(\.\d{1,2})?$/.test(text)) return undefined
  const [whole, cents = ''] = text.split('.')
  return Number(whole) * 100 + Number(cents.padEnd(2, '0'))
}
