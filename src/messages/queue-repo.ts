import { randomBytes } from 'node:crypto';
import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import { isFinal, predecessors, type MessageState } from './states.js';
import { writeStatusReport, type OnFinal } from './outbox.js';

export interface ClaimedMessage {
  id: number;
  portal_id: number;
  b24_message_id: string;
  code: string;
  phone: string | null; // null after a CLEAN uninstall erased it
  body: string | null;
  attempts: number;
  lease_token: string;
  created_at: number;
}

export interface StatusFields {
  gateway?: string;
  gateway_message_id?: string | null;
  gateway_status?: string;
  gateway_status_text?: string;
  failure_reason?: string | null;
  segments?: number;
  encoding?: string;
  sender?: string;
}

/** The messages table as a queue: atomic claims under a lease, forward-only transitions, an outbox for reports. */
export function createQueueRepo(db: Db, opts: { onFinal?: OnFinal } = {}) {
  const pg = isPostgres(db);

  /**
   * Claims up to `limit` due messages (of one portal, when given) with one atomic UPDATE … RETURNING. On PostgreSQL
   * the inner select skips rows another worker is claiming (FOR UPDATE SKIP LOCKED); on SQLite the single
   * statement is atomic.
   */
  async function claim(now: number, limit: number, leaseMs: number, scope: { portalId?: number } = {}): Promise<ClaimedMessage[]> {
    if (limit <= 0) return [];
    const token = randomBytes(12).toString('hex');
    const due = db('messages').select('id').where('state', 'queued').andWhere('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit);
    if (scope.portalId !== undefined) due.andWhere('portal_id', scope.portalId);
    if (pg) due.forUpdate().skipLocked();
    const rows = await db('messages')
      // PostgreSQL may run `id IN (… LIMIT n)` as a semi join that re-runs the subquery per row, each run taking
      // another n rows (all 6 due claimed for a limit of 2, seen in EXPLAIN ANALYZE). `= any(array(…))` runs it once.
      .where((q) => (pg ? q.whereRaw('?? = any(array(?))', ['id', due]) : q.whereIn('id', due)))
      .andWhere('state', 'queued')
      .update({ state: 'sending', lease_token: token, lease_until: now + leaseMs, submitted_at: null, attempts: db.raw('attempts + 1'), updated_at: now })
      .returning(['id', 'portal_id', 'b24_message_id', 'code', 'phone', 'body', 'attempts', 'lease_token', 'created_at']);
    return (rows as ClaimedMessage[]).map((r) => ({ ...r, id: Number(r.id), portal_id: Number(r.portal_id), created_at: Number(r.created_at) }));
  }

  /**
   * The portal whose due message has waited longest, leaving out `skip` (portals whose gateway account has no
   * free slot): the worker claims portal by portal so that no claimed row waits behind another account.
   */
  async function oldestDuePortal(now: number, skip: number[]): Promise<number | undefined> {
    const row = await db('messages')
      .where('state', 'queued')
      .andWhere('next_attempt_at', '<=', now)
      .whereNotIn('portal_id', skip)
      .orderBy('next_attempt_at')
      .first('portal_id');
    return row ? Number(row.portal_id) : undefined;
  }

  /** Written just before the request leaves: from here on, a crash means "outcome unknown", not "send again". */
  async function markSubmitted(id: number, leaseToken: string, now: number, fields: StatusFields): Promise<boolean> {
    const n = await db('messages').where({ id, state: 'sending', lease_token: leaseToken }).update({ submitted_at: now, updated_at: now, ...fields });
    return n === 1;
  }

  /**
   * Moves a message forward to `next` (never backwards, never out of a final state). A final state also
   * writes its status report in the same transaction. `leaseToken` restricts the move to the claim's owner.
   * Returns false when the guard refused (e.g. a late `sent` after `delivered`): nothing stored or reported.
   */
  async function advance(id: number, next: MessageState, now: number, fields: StatusFields = {}, leaseToken?: string): Promise<boolean> {
    const moved = await db.transaction(async (trx) => {
      const q = trx('messages').where({ id }).whereIn('state', predecessors(next));
      if (leaseToken) q.andWhere({ lease_token: leaseToken });
      const n = await q.update({
        state: next,
        lease_until: null,
        lease_token: null,
        unknown_since: null,
        updated_at: now,
        ...(next === 'sent' ? { sent_at: now } : {}),
        ...(isFinal(next) ? { final_at: now } : {}),
        ...fields,
      });
      if (n !== 1) return undefined;
      return isFinal(next) ? ((await writeStatusReport(trx, id, next, now)) ?? { gateway: null }) : { gateway: null };
    });
    if (moved && isFinal(next)) opts.onFinal?.(next, moved.gateway ?? '');
    return moved !== undefined;
  }

  /** A retryable failure: back to the queue until `nextAttemptAt`. */
  async function retryLater(id: number, leaseToken: string, now: number, nextAttemptAt: number, fields: StatusFields): Promise<boolean> {
    const n = await db('messages')
      .where({ id, state: 'sending', lease_token: leaseToken })
      .update({ state: 'queued', lease_token: null, lease_until: null, submitted_at: null, next_attempt_at: nextAttemptAt, updated_at: now, ...fields });
    return n === 1;
  }

  /** The outcome is unknown; the gateway's reports will settle it (or the statuses job fails it later). */
  async function awaitOutcome(id: number, leaseToken: string, now: number, fields: StatusFields): Promise<boolean> {
    const n = await db('messages')
      .where({ id, state: 'sending', lease_token: leaseToken })
      .update({ lease_token: null, lease_until: null, unknown_since: now, updated_at: now, ...fields });
    return n === 1;
  }

  /** Claims whose lease expired (the worker died): split into never-submitted and in-flight. */
  async function expiredClaims(now: number, limit = 500) {
    const rows = await db('messages')
      .where('state', 'sending')
      .andWhere('lease_until', '<', now)
      .limit(limit)
      .select('id', 'portal_id', 'lease_token', 'submitted_at', 'attempts', 'created_at');
    return rows.map((r) => ({
      id: Number(r.id), portal_id: Number(r.portal_id), lease_token: String(r.lease_token), attempts: Number(r.attempts), created_at: Number(r.created_at),
      submitted_at: r.submitted_at === null ? null : Number(r.submitted_at),
    }));
  }

  async function requeue(id: number, leaseToken: string, now: number): Promise<boolean> {
    const n = await db('messages')
      .where({ id, state: 'sending', lease_token: leaseToken, submitted_at: null })
      .update({ state: 'queued', lease_token: null, lease_until: null, next_attempt_at: now, updated_at: now });
    return n === 1;
  }

  async function byId(id: number) {
    return db('messages').where({ id }).first();
  }

  async function byGatewayId(portalId: number, gatewayMessageId: string) {
    return db('messages').where({ portal_id: portalId, gateway_message_id: gatewayMessageId }).first();
  }

  /** `sent` messages of one portal younger than `since`, for status polling. */
  async function sentSince(portalId: number, since: number, limit: number) {
    return db('messages')
      .where({ portal_id: portalId, state: 'sent' })
      .andWhere('created_at', '>=', since)
      .whereNotNull('gateway_message_id')
      .orderBy('id')
      .limit(limit)
      .select<{ id: number; gateway_message_id: string }[]>('id', 'gateway_message_id');
  }

  async function portalsWithSent(since: number): Promise<number[]> {
    const rows = await db('messages').where('state', 'sent').andWhere('created_at', '>=', since).distinct('portal_id');
    return rows.map((r) => Number(r.portal_id));
  }

  /** Messages whose outcome stayed unknown, or that stayed without a final status, for too long. */
  async function stale(opts: { sentBefore: number; unknownBefore: number; limit: number }) {
    const expired = await db('messages').where('state', 'sent').andWhere('created_at', '<', opts.sentBefore).limit(opts.limit).pluck('id');
    const unknown = await db('messages').where('state', 'sending').whereNotNull('unknown_since').andWhere('unknown_since', '<', opts.unknownBefore).limit(opts.limit).pluck('id');
    return { expired: expired.map(Number), unknown: unknown.map(Number) };
  }

  return { claim, oldestDuePortal, markSubmitted, advance, retryLater, awaitOutcome, expiredClaims, requeue, byId, byGatewayId, sentSince, portalsWithSent, stale };
}

export type QueueRepo = ReturnType<typeof createQueueRepo>;
