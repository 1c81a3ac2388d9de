// Every table, for drizzle-kit and for the typed query builder. Tables live with their domain.
export * from '../identity/tables'
export * from '../registry/tables'
export * from '../catalog/tables'
export * from '../publishing/tables'
export * from '../commerce/tables'
export * from '../downloads/tables'
export * from '../search/tables'
export * from '../lib/rate-limit-tables'
