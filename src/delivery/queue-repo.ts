import { randomBytes } from 'node:crypto';
import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import { isFinal, predecessors, type MessageState } from '../messages/states.js';
import { writeStatusReport, type OnFinal } from './report-repo.js';
import { createSyncTransactions, type SqliteStatement } from '../platform/sqlite-tx.js';
import { perTurn } from '../platform/turn-batch.js';
import type { Knex } from 'knex';

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
  /** accounts.ts accountKey: the account that took it. */
  gateway_account?: string;
  gateway_message_id?: string | null;
  gateway_status?: string;
  gateway_status_text?: string;
  failure_reason?: string | null;
  segments?: number;
  encoding?: string;
  sender?: string;
  /** dlr-url.ts DLR_TOKEN_V: the message's report URL carries its own secret. */
  dlr_token_v?: number;
}

/** The columns a transition to `next` writes. */
function transition(next: MessageState, now: number, fields: StatusFields): Record<string, unknown> {
  return {
    state: next, lease_until: null, lease_token: null, unknown_since: null, updated_at: now,
    ...(next === 'sent' ? { sent_at: now } : {}),
    ...(isFinal(next) ? { final_at: now } : {}),
    ...fields,
  };
}

/** Column names for hand-written SQL, checked: they come from code, never from input, and stay so. */
function columns(set: object): string[] {
  const cols = Object.keys(set);
  for (const c of cols) if (!/^[a-z_]+$/.test(c)) throw new Error(`not a column: ${c}`);
  return cols;
}

/** How many portals with due work one look returns; see duePortals. */
export const DUE_PORTALS_LIMIT = 500;

/**
 * The messages table as a queue: atomic claims under a lease, forward-only transitions; a final state writes its
 * status report into the outbox (report-repo.ts) in the same transaction.
 */
/** Indexes of `items` in the order of their ids: every multi-row transaction locks rows in one order. */
const inIdOrder = (items: Array<{ id: number }>) => items.map((_, k) => k).sort((a, b) => items[a]!.id - items[b]!.id);

/** SQLSTATEs after which PostgreSQL rolled the whole transaction back and it can simply run again. */
const RETRYABLE = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure

export function createQueueRepo(db: Db, opts: { onFinal?: OnFinal } = {}) {
  const pg = isPostgres(db);

  /**
   * A PostgreSQL transaction that writes what already happened at a gateway (it took a message, it answered): lost
   * to a deadlock, that would end as "outcome unknown". PostgreSQL rolled all of it back, so it runs again, whole.
   */
  async function pgTransaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction(fn);
      } catch (err) {
        if (attempt >= 3 || !RETRYABLE.has(String((err as { code?: string }).code))) throw err;
      }
    }
  }
  const syncTx = pg ? undefined : createSyncTransactions(db);

  /**
   * Claims up to `limit` due messages (of one portal, when given) with one atomic UPDATE … RETURNING. On PostgreSQL
   * the inner select skips rows another worker is claiming (FOR UPDATE SKIP LOCKED); on SQLite the single
   * statement is atomic.
   */
  async function claim(now: number, limit: number, leaseMs: number, scope: { portalId?: number } = {}): Promise<ClaimedMessage[]> {
    if (limit <= 0) return [];
    const token = randomBytes(12).toString('hex');
    if (syncTx) {
      // The same statement as below, prepared once: the worker claims after every freed slot.
      const rows = await syncTx((sql) => sql(`UPDATE messages SET state = 'sending', lease_token = ?, lease_until = ?, submitted_at = NULL, attempts = attempts + 1, updated_at = ?
          WHERE id IN (SELECT id FROM messages WHERE state = 'queued' AND next_attempt_at <= ?${scope.portalId !== undefined ? ' AND portal_id = ?' : ''} ORDER BY next_attempt_at LIMIT ?)
          AND +state = 'queued' RETURNING id, portal_id, b24_message_id, code, phone, body, attempts, lease_token, created_at`)
        .all(token, now + leaseMs, now, now, ...(scope.portalId !== undefined ? [scope.portalId] : []), limit));
      return rows.map((r) => ({ ...(r as unknown as ClaimedMessage), id: Number(r.id), portal_id: Number(r.portal_id), created_at: Number(r.created_at) }));
    }
    const due = db('messages').select('id').where('state', 'queued').andWhere('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit);
    if (scope.portalId !== undefined) due.andWhere('portal_id', scope.portalId);
    if (pg) due.forUpdate().skipLocked();
    const rows = await db('messages')
      // PostgreSQL may run `id IN (… LIMIT n)` as a semi join that re-runs the subquery per row, each run taking
      // another n rows (all 6 due claimed for a limit of 2, seen in EXPLAIN ANALYZE). `= any(array(…))` runs it once.
      .where((q) => (pg ? q.whereRaw('?? = any(array(?))', ['id', due]) : q.whereIn('id', due)))
      // SQLite would look for the rows to update through an index on `state`, testing every queued row (a stuck
      // portal's whole backlog) against the id list; a unary + keeps a term off the indexes (sqlite.org/optoverview.html
      // §"Disqualifying WHERE clause terms"), so it looks the few rows up by id. PostgreSQL reads `id = any(…)` by key.
      .andWhere((q) => (pg ? q.where('state', 'queued') : q.whereRaw("+?? = 'queued'", ['state'])))
      .update({ state: 'sending', lease_token: token, lease_until: now + leaseMs, submitted_at: null, attempts: db.raw('attempts + 1'), updated_at: now })
      .returning(['id', 'portal_id', 'b24_message_id', 'code', 'phone', 'body', 'attempts', 'lease_token', 'created_at']);
    return (rows as ClaimedMessage[]).map((r) => ({ ...r, id: Number(r.id), portal_id: Number(r.portal_id), created_at: Number(r.created_at) }));
  }

  /**
   * Portals with a due message, by id, at most `limit`, after portal `after`. A loose index scan over
   * (state, portal_id, next_attempt_at): each step seeks the next portal's first queued row, which carries its
   * earliest due time, so the cost grows with the portals that have queued rows, never with one portal's backlog
   * (the "oldest due row" query this replaces walked every due row of a portal whose slots were full: ~55 ms a look
   * with 300k of them, on SQLite's only connection). Same SQL on both databases. The steps ask in the index's own
   * order instead of for a portal's min(next_attempt_at): PostgreSQL answered that min() through the
   * (state, next_attempt_at) index, filtering out 250k rows of the stuck portal (EXPLAIN ANALYZE). Portals beyond
   * `limit` are not seen by one call; the worker's next look starts after the last one returned, so each comes round.
   */
  async function duePortals(now: number, opts: { after?: number; limit?: number } = {}): Promise<number[]> {
    const next = (col: string) => `(SELECT ${col} FROM messages WHERE state = 'queued' AND portal_id > p.id ORDER BY portal_id, next_attempt_at LIMIT 1)`;
    const res = await db.raw(
      `WITH RECURSIVE p(id, due_at) AS (
         SELECT CAST(? AS integer), CAST(NULL AS bigint)
         UNION ALL
         SELECT ${next('portal_id')}, ${next('next_attempt_at')} FROM p WHERE p.id IS NOT NULL
       )
       SELECT id FROM p WHERE due_at <= ? LIMIT ?`,
      [opts.after ?? 0, now, opts.limit ?? DUE_PORTALS_LIMIT],
    );
    const rows: { id: number | string }[] = pg ? res.rows : res;
    return rows.map((r) => Number(r.id));
  }

  /** Written just before the request leaves: from here on, a crash means "outcome unknown", not "send again". */
  async function markSubmitted(id: number, leaseToken: string, now: number, fields: StatusFields): Promise<boolean> {
    return markInTurn ? markInTurn({ id, leaseToken, fields, now }) : (await markSubmittedMany([{ id, leaseToken, fields }], now))[0]!;
  }
  /** SQLite: the marks of one turn of the event loop (a gateway that takes one message per request) in one transaction. */
  const markInTurn = syncTx && perTurn((items: Array<{ id: number; leaseToken: string; fields: StatusFields; now: number }>) => markSubmittedMany(items, items[0]!.now));

  /**
   * markSubmitted for the messages of one request, in one transaction (a request of 100 SMS.ru messages is one
   * write, not 100): for each, whether it was still this claim's, its lease not run out (a worker that stalled past
   * its lease does not send: the reaper may be giving the message back to be sent by another right now).
   */
  async function markSubmittedMany(items: Array<{ id: number; leaseToken: string; fields: StatusFields; now?: number }>, now: number): Promise<boolean[]> {
    if (!items.length) return [];
    const set = (i: { fields: StatusFields; now?: number }) => ({ submitted_at: i.now ?? now, updated_at: i.now ?? now, ...i.fields });
    if (!syncTx) {
      return pgTransaction(async (trx) => {
        const out: boolean[] = [];
        for (const k of inIdOrder(items)) {
          const i = items[k]!;
          out[k] = (await trx('messages').where({ id: i.id, state: 'sending', lease_token: i.leaseToken }).andWhere('lease_until', '>=', i.now ?? now).update(set(i))) === 1;
        }
        return out;
      });
    }
    return syncTx((sql) => items.map((i) => {
      const values = set(i);
      const cols = columns(values);
      return sql(`UPDATE messages SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ? AND state = 'sending' AND lease_token = ? AND lease_until >= ?`)
        .run(...cols.map((c) => values[c as keyof typeof values] ?? null), i.id, i.leaseToken, i.now ?? now).changes === 1;
    }));
  }

  /**
   * Moves a message forward to `next` (never backwards, never out of a final state). A final state also
   * writes its status report in the same transaction. `leaseToken` restricts the move to the claim's owner.
   * Returns false when the guard refused (e.g. a late `sent` after `delivered`): nothing stored or reported.
   */
  async function advance(id: number, next: MessageState, now: number, fields: StatusFields = {}, leaseToken?: string): Promise<boolean> {
    return advanceInTurn ? advanceInTurn({ id, next, fields, leaseToken, now }) : (await advanceMany([{ id, next, fields, leaseToken }], now))[0]!;
  }

  /**
   * SQLite: the transitions asked for in one turn of the event loop (delivery reports arrive many at a time, sends
   * end many at a time) are written in one transaction, each caller answered with its own result.
   */
  /** `unknownBefore`: only while the message is still an unknown outcome from before then (failUnknown). */
  type Item = { id: number; next: MessageState; fields?: StatusFields; leaseToken?: string; now?: number; unknownBefore?: number };
  const advanceInTurn = syncTx && perTurn((items: Item[]) => advanceMany(items, items[0]!.now!));

  /** advance() for several messages in one transaction (the results of one request): whether each moved. */
  async function advanceMany(items: Item[], now: number): Promise<boolean[]> {
    if (!items.length) return [];
    const moved = syncTx
      ? await syncTx((sql) => items.map((i) => advanceSqlite(sql, i.id, i.next, i.now ?? now, i.fields ?? {}, i.leaseToken, i.unknownBefore)))
      : await pgTransaction(async (trx) => {
        const out: Array<{ gateway: string | null } | undefined> = [];
        for (const k of inIdOrder(items)) {
          const i = items[k]!;
          out[k] = await advancePg(trx, i.id, i.next, i.now ?? now, i.fields ?? {}, i.leaseToken, i.unknownBefore);
        }
        return out;
      });
    moved.forEach((m, k) => m && isFinal(items[k]!.next) && opts.onFinal?.(items[k]!.next, m.gateway ?? ''));
    return moved.map((m) => m !== undefined);
  }

  async function advancePg(trx: Knex.Transaction, id: number, next: MessageState, now: number, fields: StatusFields, leaseToken?: string, unknownBefore?: number) {
    const q = trx('messages').where({ id }).whereIn('state', predecessors(next));
    if (leaseToken) q.andWhere({ lease_token: leaseToken });
    if (unknownBefore !== undefined) q.whereNotNull('unknown_since').andWhere('unknown_since', '<', unknownBefore);
    const n = await q.update(transition(next, now, fields));
    if (n !== 1) return undefined;
    return isFinal(next) ? ((await writeStatusReport(trx, id, next, now)) ?? { gateway: null }) : { gateway: null };
  }

  /** advance() on SQLite: the same statements, inside a synchronous transaction (see sqlite-tx.ts). */
  function advanceSqlite(sql: (text: string) => SqliteStatement, id: number, next: MessageState, now: number, fields: StatusFields, leaseToken?: string, unknownBefore?: number) {
    const set = transition(next, now, fields);
    const cols = columns(set);
    const from = predecessors(next);
    const update = `UPDATE messages SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ? AND state IN (${from.map(() => '?').join(', ')})${leaseToken ? ' AND lease_token = ?' : ''}${unknownBefore !== undefined ? ' AND unknown_since IS NOT NULL AND unknown_since < ?' : ''}`;
    const n = sql(update).run(...cols.map((c) => set[c] ?? null), id, ...from, ...(leaseToken ? [leaseToken] : []), ...(unknownBefore !== undefined ? [unknownBefore] : [])).changes;
    if (n !== 1) return undefined;
    if (!isFinal(next)) return { gateway: null };
    const m = sql('SELECT portal_id, code, b24_message_id, is_test, gateway, author_id FROM messages WHERE id = ?').get(id)!;
    if (!m.is_test) {
      sql(`INSERT INTO status_reports (portal_id, message_id, code, b24_message_id, author_id, status, next_attempt_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, status) DO NOTHING`).run(m.portal_id, id, m.code, m.b24_message_id, m.author_id ?? null, next, now, now, now);
    }
    return { gateway: (m.gateway as string | null) ?? null };
  }

  /**
   * An unknown outcome from before `unknownBefore` ends `failed`, if it still is one when written: between the read
   * (`stale`) and this, another process may have settled it, or resent it (queued, or sending again).
   */
  async function failUnknown(id: number, now: number, unknownBefore: number, reason: string): Promise<boolean> {
    const item: Item = { id, next: 'failed', fields: { failure_reason: reason }, now, unknownBefore };
    return advanceInTurn ? advanceInTurn(item) : (await advanceMany([item], now))[0]!;
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

  /**
   * The heartbeat of a live worker: its claims' leases run `leaseMs` from now again. Returns the rows renewed.
   * On PostgreSQL it never waits for a row lock: a row another transaction holds (this worker recording a send's
   * answer, a delivery report) is left for the next beat, a quarter of a lease later. Waiting deadlocked: one
   * UPDATE over all of a worker's claims locks them in the table's order, the answer of a request in its own, and
   * PostgreSQL aborted one of the two, sometimes the answer (8 deadlocks in one CI run's PostgreSQL half; 100
   * messages SMS.ru had taken ended `failed`, "outcome unknown").
   */
  async function renewLeases(tokens: string[], until: number): Promise<number> {
    if (!tokens.length) return 0;
    if (pg) {
      const free = db('messages').select('id').where('state', 'sending').whereIn('lease_token', tokens).forUpdate().skipLocked();
      return db('messages').whereRaw('?? = any(array(?))', ['id', free]).update({ lease_until: until });
    }
    return db('messages').where('state', 'sending').whereIn('lease_token', tokens).update({ lease_until: until });
  }

  /** Claims whose lease expired (the worker died): split into never-submitted and in-flight. */
  async function expiredClaims(now: number, limit = 500) {
    const rows = await db('messages')
      .where('state', 'sending')
      .andWhere('lease_until', '<', now)
      .limit(limit)
      .select('id', 'portal_id', 'lease_token', 'submitted_at', 'attempts', 'created_at', 'gateway');
    return rows.map((r) => ({
      id: Number(r.id), portal_id: Number(r.portal_id), lease_token: String(r.lease_token), attempts: Number(r.attempts), created_at: Number(r.created_at),
      submitted_at: r.submitted_at === null ? null : Number(r.submitted_at),
      /** The gateway kind that took it (written with submitted_at): whose reports could still settle it. */
      gateway: (r.gateway as string | null) ?? null,
    }));
  }

  /**
   * The reaper's hold on an expired claim: a token of its own, given only while the lease is still expired. A worker
   * that renewed it since (alive after all) keeps it, and of two reapers one gets it; the old token writes no more.
   * With the token, whether and where the message was submitted as read after the old token's last write (its
   * worker may have marked it submitted since the expired claims were read).
   */
  async function takeOver(id: number, leaseToken: string, now: number): Promise<{ token: string; submittedAt: number | null; gateway: string | null } | undefined> {
    const token = randomBytes(12).toString('hex');
    const n = await db('messages').where({ id, state: 'sending', lease_token: leaseToken }).andWhere('lease_until', '<', now).update({ lease_token: token });
    if (n !== 1) return undefined;
    const row = await db('messages').where({ id }).first('submitted_at', 'gateway');
    return { token, submittedAt: row?.submitted_at == null ? null : Number(row.submitted_at), gateway: (row?.gateway as string | null) ?? null };
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

  /** What a delivery report needs of its message: whose it is and which gateway took it. */
  async function ownerOf(id: number): Promise<{ id: number; portal_id: number; gateway: string | null; state: MessageState; dlr_token_v: number | null } | undefined> {
    const m = syncTx
      ? await syncTx((sql) => sql('SELECT id, portal_id, gateway, state, dlr_token_v FROM messages WHERE id = ?').get(id)) // prepared once: one read per report
      : await db('messages').where({ id }).first('id', 'portal_id', 'gateway', 'state', 'dlr_token_v');
    return m && {
      id: Number(m.id), portal_id: Number(m.portal_id), gateway: (m.gateway as string | null) ?? null, state: m.state as MessageState,
      dlr_token_v: m.dlr_token_v === null || m.dlr_token_v === undefined ? null : Number(m.dlr_token_v),
    };
  }

  /**
   * The newest message of the portal(s) by the id `gateway` gave it (ids of different gateways may look alike, and an
   * SMS centre may give an id again: after a restart of its counter, or another centre on the same account).
   */
  async function byGatewayId(portalId: number | number[], gatewayMessageId: string, gateway?: string) {
    return db('messages')
      .whereIn('portal_id', typeof portalId === 'number' ? [portalId] : portalId)
      .where({ gateway_message_id: gatewayMessageId, ...(gateway ? { gateway } : {}) })
      .orderBy('id', 'desc')
      .first();
  }

  /**
   * `sent` messages of one portal younger than `since` that `account` took (or, unless `exactly`, that were sent
   * before accounts were recorded: the portal's current account is asked about those), for status polling.
   */
  async function sentSince(portalId: number, since: number, limit: number, account: string, afterId = 0, exactly = false) {
    const page = (from: number, n: number) => db('messages')
      .where({ portal_id: portalId, state: 'sent' })
      .andWhere('created_at', '>=', since)
      .andWhere('id', '>', from)
      .whereNotNull('gateway_message_id')
      .andWhere((q) => (exactly ? q.where('gateway_account', account) : q.where('gateway_account', account).orWhereNull('gateway_account')))
      .orderBy('id')
      .limit(n)
      .select<{ id: number; gateway_message_id: string; phone: string | null }[]>('id', 'gateway_message_id', 'phone');
    // From `afterId` on, then from the start again up to it: where one run cannot ask about them all, the next one
    // goes on where it stopped, so old messages that stay pending never keep newer ones from being asked about.
    const rows = await page(afterId, limit);
    if (afterId === 0 || rows.length >= limit) return rows;
    return [...rows, ...(await page(0, limit - rows.length)).filter((r) => Number(r.id) <= afterId)];
  }

  /**
   * An uninstalled portal's gateway is asked nothing more with its credentials: nothing can reach its Bitrix24 any
   * more (its delivery reports are dropped too); its messages still end by expiry (`stale`). An inactive one is asked.
   */
  const uninstalled = () => db('portals').select('id').where('status', 'uninstalled');

  async function portalsWithSent(since: number): Promise<number[]> {
    const rows = await db('messages').where('state', 'sent').andWhere('created_at', '>=', since).whereNotIn('portal_id', uninstalled()).distinct('portal_id');
    return rows.map((r) => Number(r.portal_id));
  }

  /** Messages whose outcome stayed unknown, or that stayed without a final status, for too long. */
  async function stale(opts: { sentBefore: number; unknownBefore: number; limit: number }) {
    const expired = await db('messages').where('state', 'sent').andWhere('created_at', '<', opts.sentBefore).limit(opts.limit).pluck('id');
    const unknown = await db('messages').where('state', 'sending').whereNotNull('unknown_since').andWhere('unknown_since', '<', opts.unknownBefore).limit(opts.limit).pluck('id');
    return { expired: expired.map(Number), unknown: unknown.map(Number) };
  }

  /** Portals (not uninstalled) with messages whose outcome is unknown (sent, answer lost), for gateways that can be asked (lookups). */
  async function portalsWithUnknown(): Promise<number[]> {
    const rows = await db('messages').where('state', 'sending').whereNotNull('unknown_since').whereNotIn('portal_id', uninstalled()).distinct('portal_id');
    return rows.map((r) => Number(r.portal_id));
  }

  /**
   * A portal's unknown outcomes at `account` (or, unless `exactly`, from before accounts were recorded) not looked up since
   * `lookedUpBefore` (a lookup that settles nothing touches updated_at). Another account's would be "not found" there.
   */
  async function unknownOutcomes(portalId: number, lookedUpBefore: number, limit: number, account: string, exactly = false) {
    const rows = await db('messages')
      .where({ portal_id: portalId, state: 'sending' })
      .whereNotNull('unknown_since')
      .andWhere((q) => (exactly ? q.where('gateway_account', account) : q.where('gateway_account', account).orWhereNull('gateway_account')))
      .whereNull('lease_token')
      .andWhere('updated_at', '<=', lookedUpBefore)
      .orderBy('id')
      .limit(limit)
      .select('id', 'phone', 'unknown_since', 'resent_at');
    return rows.map((r) => ({
      id: Number(r.id), phone: (r.phone as string | null) ?? null, unknown_since: Number(r.unknown_since),
      resent_at: r.resent_at === null || r.resent_at === undefined ? null : Number(r.resent_at),
    }));
  }

  /** A lookup that settled nothing: when it was, so the next waits its turn (gateways limit lookups per message). */
  async function lookedUp(id: number, now: number): Promise<void> {
    await db('messages').where({ id, state: 'sending' }).whereNotNull('unknown_since').update({ updated_at: now });
  }

  /**
   * The gateway, asked by our id, says it never received the message: queued again, at most once ever (`resent_at`
   * is the guard, in the same statement, so two processes cannot both resend). False when it was resent before.
   */
  async function resendOnce(id: number, now: number): Promise<boolean> {
    const n = await db('messages')
      .where({ id, state: 'sending' })
      .whereNotNull('unknown_since')
      .whereNull('lease_token')
      .whereNull('resent_at')
      .update({ state: 'queued', unknown_since: null, submitted_at: null, lease_until: null, next_attempt_at: now, resent_at: now, updated_at: now });
    return n === 1;
  }

  return {
    markSubmittedMany, advanceMany, ownerOf,
    claim, duePortals, renewLeases, markSubmitted, advance, failUnknown, retryLater, awaitOutcome, expiredClaims, takeOver, requeue, byId, byGatewayId, sentSince, portalsWithSent, stale,
    portalsWithUnknown, unknownOutcomes, lookedUp, resendOnce,
  };
}

export type QueueRepo = ReturnType<typeof createQueueRepo>;
