/** The largest id of a table keyed by PostgreSQL's `integer` (portals): a larger number in a query fails the query. */
export const INT_ID_MAX = 2_147_483_647;

/**
 * A row id as it arrives in a URL or a form: digits only, from 1 to `max` (a `bigint` id by default); undefined for
 * anything else, which the caller answers as "no such …". A NaN, a fraction or an out-of-range number never reaches
 * a query: PostgreSQL refuses the whole statement, which was a 500 where SQLite found nothing.
 */
export function rowId(value: unknown, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (typeof value !== 'string' || !/^[1-9]\d{0,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= max ? n : undefined;
}
