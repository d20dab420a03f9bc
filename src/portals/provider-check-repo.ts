import type { Db } from '../platform/db.js';

/**
 * What the last provider check of a portal found: `ok` (nothing missing), `repaired` (providers or events were
 * missing and were registered or bound again), `error` (a call failed; `error` is its code, and the counts say what
 * was repaired before it).
 */
export interface ProviderCheckResult {
  checkedAt: number;
  outcome: 'ok' | 'repaired' | 'error';
  providersRepaired: number;
  eventsRepaired: number;
  error: string | null;
}

const num = (v: unknown) => Number(v ?? 0);
// PostgreSQL returns bigint columns as strings.
const toResult = (r: Record<string, unknown>): ProviderCheckResult => ({
  checkedAt: num(r.checked_at),
  outcome: r.outcome as ProviderCheckResult['outcome'],
  providersRepaired: num(r.providers_repaired),
  eventsRepaired: num(r.events_repaired),
  error: (r.error as string | null) ?? null,
});

/** The provider_checks table: one row per portal, its last check. */
export function createProviderCheckRepo(db: Db) {
  async function record(portalId: number, r: ProviderCheckResult): Promise<void> {
    const fields = {
      checked_at: r.checkedAt,
      outcome: r.outcome,
      providers_repaired: r.providersRepaired,
      events_repaired: r.eventsRepaired,
      error: r.error?.slice(0, 100) ?? null,
    };
    await db('provider_checks').insert({ portal_id: portalId, ...fields }).onConflict('portal_id').merge(fields);
  }

  /** Every portal's last check (the operator console's list). */
  async function lastByPortal(): Promise<Map<number, ProviderCheckResult>> {
    const rows = await db('provider_checks').select();
    return new Map(rows.map((r) => [num(r.portal_id), toResult(r)]));
  }

  async function last(portalId: number): Promise<ProviderCheckResult | undefined> {
    const row = await db('provider_checks').where({ portal_id: portalId }).first();
    return row && toResult(row);
  }

  return { record, lastByPortal, last };
}

export type ProviderCheckRepo = ReturnType<typeof createProviderCheckRepo>;
