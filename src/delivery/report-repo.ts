// The status_reports outbox: each final status waiting to be reported to Bitrix24. Written inside the transaction
// that made a message final (the queue's transitions, intake's refused numbers), read and settled by the reporter.
import type { Knex } from 'knex';
import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';

/** Told once per message that reaches a final state, after its transaction committed (metrics count these). */
export type OnFinal = (state: string, gateway: string) => void;

/**
 * Writes a message's status report into the outbox, inside the transaction that changed the message, so no report
 * is lost. Test SMS from the settings page are skipped: Bitrix24 knows nothing of them.
 */
export async function writeStatusReport(trx: Knex.Transaction, messageId: number, status: string, now: number): Promise<{ gateway: string | null } | undefined> {
  const m = await trx('messages').where({ id: messageId }).first('portal_id', 'code', 'b24_message_id', 'is_test', 'gateway', 'author_id');
  if (!m) return undefined;
  if (m.is_test) return { gateway: m.gateway };
  await trx('status_reports')
    .insert({ portal_id: m.portal_id, message_id: messageId, code: m.code, b24_message_id: m.b24_message_id, author_id: m.author_id ?? null, status, next_attempt_at: now, created_at: now, updated_at: now })
    .onConflict(['message_id', 'status'])
    .ignore();
  return { gateway: m.gateway };
}

/** The start of `last_error` of a report that no token we hold may set (issue 10 §3): it waits, never dropped for age. */
export const WAITING = 'ACCESS_DENIED';

export interface PendingReport {
  id: number;
  portal_id: number;
  code: string;
  b24_message_id: string;
  status: string;
  attempts: number;
  created_at: number;
  author_id: number | null;
  /** Why the last try failed; `ACCESS_DENIED…` marks a report waiting for a token that may set it. */
  last_error: string | null;
}

/** The reporter's side of the outbox: choose, claim under a lease, settle; and the operator's counts. */
export function createReportRepo(db: Db) {
  const pg = isPostgres(db);

  /**
   * Due, unleased reports (id, portal, age) for the reporter to choose from, leaving out portals in `skip` and those
   * another process is reporting (its `reports:<portal>` lease): their backlog would fill `limit` and hide the rest.
   */
  async function due(now: number, limit: number, skip: number[] = []): Promise<Array<{ id: number; portal_id: number; created_at: number }>> {
    const rows = await db('status_reports')
      .select('id', 'portal_id', 'created_at')
      .where('outcome', 'pending')
      .andWhere('next_attempt_at', '<=', now)
      .whereNotIn('portal_id', skip)
      .whereNotExists((q) => q.select(db.raw('1')).from('job_leases').whereRaw("job_leases.name = 'reports:' || status_reports.portal_id").andWhere('job_leases.until', '>', now))
      .andWhere((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .orderBy('id')
      .limit(limit);
    return rows.map((r) => ({ id: Number(r.id), portal_id: Number(r.portal_id), created_at: Number(r.created_at) }));
  }

  /** Claims the chosen reports under a lease, so that two processes never report the same row at once. */
  async function claim(ids: number[], now: number, leaseMs: number): Promise<PendingReport[]> {
    if (!ids.length) return [];
    const free = db('status_reports')
      .select('id')
      .whereIn('id', ids)
      .andWhere('outcome', 'pending')
      .andWhere((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now));
    if (pg) free.forUpdate().skipLocked();
    const rows = await db('status_reports')
      .whereIn('id', free)
      .update({ lease_until: now + leaseMs, attempts: db.raw('attempts + 1'), updated_at: now })
      .returning(['id', 'portal_id', 'code', 'b24_message_id', 'status', 'attempts', 'created_at', 'author_id', 'last_error']);
    return (rows as PendingReport[])
      .map((r) => ({ ...r, id: Number(r.id), portal_id: Number(r.portal_id), author_id: r.author_id == null ? null : Number(r.author_id) }))
      .sort((a, b) => a.id - b.id);
  }

  async function markReported(ids: number[], now: number) {
    if (ids.length) await db('status_reports').whereIn('id', ids).update({ outcome: 'reported', lease_until: null, last_error: null, updated_at: now });
  }

  // Only a report still pending is given up or put off: one another process reported meanwhile stays reported.
  async function drop(id: number, error: string, now: number) {
    await db('status_reports').where({ id, outcome: 'pending' }).update({ outcome: 'dropped', lease_until: null, last_error: error.slice(0, 500), updated_at: now });
  }

  async function retry(ids: number[], nextAttemptAt: number, error: string, now: number) {
    if (ids.length) {
      await db('status_reports').whereIn('id', ids).andWhere('outcome', 'pending').update({ lease_until: null, next_attempt_at: nextAttemptAt, last_error: error.slice(0, 500), updated_at: now });
    }
  }

  /** Whether reports of this author other than `except` still wait to be reported. */
  async function pendingForAuthor(portalId: number, authorId: number, except: number[]): Promise<boolean> {
    const row = await db('status_reports').where({ portal_id: portalId, author_id: authorId, outcome: 'pending' }).whereNotIn('id', except).first('id');
    return row !== undefined;
  }

  /** Whether any report of the portal still waits for a token that may set it. */
  async function anyWaiting(portalId: number): Promise<boolean> {
    return (await db('status_reports').where({ portal_id: portalId, outcome: 'pending' }).where('last_error', 'like', `${WAITING}%`).first('id')) !== undefined;
  }

  /** An administrator opened the app's page: the reports that waited for a token that may set them go now. */
  async function wakeWaiting(portalId: number, now: number): Promise<number> {
    return db('status_reports').where({ portal_id: portalId, outcome: 'pending' }).where('last_error', 'like', `${WAITING}%`).update({ next_attempt_at: now, updated_at: now });
  }

  /** The operator's "retry failed reports": a portal's dropped and waiting reports go out again now. */
  async function requeuePortal(portalId: number, now: number): Promise<number> {
    return db('status_reports')
      .where({ portal_id: portalId })
      .whereIn('outcome', ['dropped', 'pending'])
      .update({ outcome: 'pending', next_attempt_at: now, lease_until: null, attempts: 0, updated_at: now });
  }

  /** How many reports wait and how many were given up (the operator console). */
  async function counts(): Promise<{ pending: number; dropped: number }> {
    const rows: Array<{ outcome: string; n: number | string }> = await db('status_reports').whereIn('outcome', ['pending', 'dropped']).groupBy('outcome').select('outcome').count({ n: '*' });
    const n = (o: string) => Number(rows.find((r) => r.outcome === o)?.n ?? 0);
    return { pending: n('pending'), dropped: n('dropped') };
  }

  async function backlog(): Promise<number> {
    const r = await db('status_reports').where('outcome', 'pending').count<{ n: number | string }[]>({ n: '*' });
    return Number(r[0]?.n ?? 0);
  }

  return { due, claim, counts, markReported, drop, retry, requeuePortal, backlog, pendingForAuthor, wakeWaiting, anyWaiting };
}

export type ReportRepo = ReturnType<typeof createReportRepo>;
