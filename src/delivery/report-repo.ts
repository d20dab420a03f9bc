import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';

export interface PendingReport {
  id: number;
  portal_id: number;
  code: string;
  b24_message_id: string;
  status: string;
  attempts: number;
  created_at: number;
}

/** The status_reports outbox. */
export function createReportRepo(db: Db) {
  const pg = isPostgres(db);

  /** Claims due reports under a lease, so that two processes never report the same row at once. */
  async function claimDue(now: number, limit: number, leaseMs: number): Promise<PendingReport[]> {
    const due = db('status_reports')
      .select('id')
      .where('state', 'pending')
      .andWhere('next_attempt_at', '<=', now)
      .andWhere((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .orderBy('id')
      .limit(limit);
    if (pg) due.forUpdate().skipLocked();
    const rows = await db('status_reports')
      .whereIn('id', due)
      .update({ lease_until: now + leaseMs, attempts: db.raw('attempts + 1'), updated_at: now })
      .returning(['id', 'portal_id', 'code', 'b24_message_id', 'status', 'attempts', 'created_at']);
    return (rows as PendingReport[]).map((r) => ({ ...r, id: Number(r.id) }));
  }

  async function markSent(ids: number[], now: number) {
    if (ids.length) await db('status_reports').whereIn('id', ids).update({ state: 'sent', lease_until: null, last_error: null, updated_at: now });
  }

  async function drop(id: number, error: string, now: number) {
    await db('status_reports').where({ id }).update({ state: 'dropped', lease_until: null, last_error: error.slice(0, 500), updated_at: now });
  }

  async function retry(ids: number[], nextAttemptAt: number, error: string, now: number) {
    if (ids.length) {
      await db('status_reports').whereIn('id', ids).update({ lease_until: null, next_attempt_at: nextAttemptAt, last_error: error.slice(0, 500), updated_at: now });
    }
  }

  async function backlog(): Promise<number> {
    const r = await db('status_reports').where('state', 'pending').count<{ n: number | string }[]>({ n: '*' });
    return Number(r[0]?.n ?? 0);
  }

  return { claimDue, markSent, drop, retry, backlog };
}

export type ReportRepo = ReturnType<typeof createReportRepo>;
