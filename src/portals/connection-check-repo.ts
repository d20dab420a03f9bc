import type { Db } from '../platform/db.js';

export interface ConnectionCheckRow {
  nonce: string;
  requestedAt: number;
  arrivedAt: number | null;
}

/** The `connection_checks` table: each portal's latest test event, shared by every web process. */
export function createConnectionCheckRepo(db: Db) {
  const table = () => db('connection_checks');

  /** A new check replaces the previous one: only its nonce counts as arrived. */
  async function start(portalId: number, nonce: string, now: number): Promise<void> {
    const row = { portal_id: portalId, nonce, requested_at: now, arrived_at: null };
    await table().insert(row).onConflict('portal_id').merge();
  }

  /** True when this arrival answered the portal's current check (a late event of an older check changes nothing). */
  async function arrived(portalId: number, nonce: string, now: number): Promise<boolean> {
    return (await table().where({ portal_id: portalId, nonce }).whereNull('arrived_at').update({ arrived_at: now })) === 1;
  }

  async function latest(portalId: number): Promise<ConnectionCheckRow | undefined> {
    const r = await table().where({ portal_id: portalId }).first('nonce', 'requested_at', 'arrived_at');
    return r && { nonce: r.nonce, requestedAt: Number(r.requested_at), arrivedAt: r.arrived_at === null ? null : Number(r.arrived_at) };
  }

  return { start, arrived, latest };
}

export type ConnectionCheckRepo = ReturnType<typeof createConnectionCheckRepo>;
