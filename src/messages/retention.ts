import type { Clock } from '../platform/clock.js';
import type { Db } from '../platform/db.js';
import type { Log } from '../platform/logger.js';
import { FINAL_STATES } from './states.js';
import { eraseUninstalledMessages } from '../portals/portal-repo.js';

/**
 * Erases the texts of messages older than MESSAGE_RETENTION once they are final; the rows stay (number, state,
 * gateway, times) for the message log, the console's figures and the CSV. In batches of `batch` rows by id, each
 * its own short statement, so a year's backlog never holds the database for long. Safe in any number of processes:
 * an erased text is erased again at no cost.
 */
/** How long an account a portal switched away from is kept at least (retired_accounts), waiting messages or not. */
export const RETIRED_IDLE_MS = 60 * 60_000;

export function createRetentionJob(deps: { db: Db; clock: Clock; log: Log; retentionMs: number; batch?: number; partsKeepMs?: number }) {
  const batch = deps.batch ?? 5_000;
  // Ids up to this were looked at already (older than the cut-off, and final): the next run starts after them. An
  // old message not final yet (waiting for its status, or queued for a disabled portal) holds it back until it is.
  let after = 0;
  const final = new Set<string>(FINAL_STATES);

  async function runOnce(): Promise<number> {
    // An uninstall with CLEAN whose process died before its erase was done.
    // and messages that were still at their gateway then, whose answers came after it.
    for (const { id } of await deps.db('portals').whereNotNull('erase_through').select('id')) {
      const n = await eraseUninstalledMessages(deps.db, Number(id), deps.clock());
      if (n) deps.log.info({ portalId: Number(id), erased: n }, 'retention.uninstall_erased');
    }
    const before = deps.clock() - deps.retentionMs;
    let erased = 0;
    let cursor = after;
    let waiting: number | undefined; // the first old message that is not final
    for (;;) {
      // Read first, then write by id: the look through old rows never holds SQLite's write lock (intake waits on it).
      const rows = await deps.db('messages').select('id', 'created_at', 'state').where('id', '>', cursor).whereNotNull('body').orderBy('id').limit(batch);
      const due = rows.filter((r) => Number(r.created_at) < before);
      const done = due.filter((r) => final.has(r.state));
      if (done.length) erased += await deps.db('messages').whereIn('id', done.map((r) => r.id)).whereIn('state', [...FINAL_STATES]).update({ body: null });
      waiting ??= due.find((r) => !final.has(r.state))?.id;
      if (due.length < rows.length || rows.length < batch) break; // reached messages younger than the cut-off
      cursor = Number(rows[rows.length - 1]!.id);
    }
    after = waiting !== undefined ? Math.min(cursor, Number(waiting) - 1) : cursor;
    if (erased) deps.log.info({ erased, olderThanDays: Math.round(deps.retentionMs / 86_400_000) }, 'retention.texts_erased');
    await prunePartIds();
    await pruneReports();
    return erased;
  }

  // Report ids up to this were looked at already (older than the cut-off, and done): the next run starts after them.
  let reportsAfter = 0;
  const DONE = ['reported', 'dropped'];

  /**
   * The outbox's rows of statuses that were reported (or given up on) more than MESSAGE_RETENTION ago: the message's
   * own row keeps its state, and a state is never reported twice (it moves forward only), so nothing reads them
   * again. Oldest first by id, in batches; a report still pending holds the next run back at it, as for texts.
   */
  async function pruneReports(): Promise<number> {
    const before = deps.clock() - deps.retentionMs;
    let pruned = 0;
    let cursor = reportsAfter;
    let waiting: number | undefined;
    for (;;) {
      const rows = await deps.db('status_reports').select('id', 'created_at', 'updated_at', 'outcome').where('id', '>', cursor).orderBy('id').limit(batch);
      const old = rows.filter((r) => Number(r.created_at) < before);
      const done = old.filter((r) => DONE.includes(r.outcome) && Number(r.updated_at) < before);
      if (done.length) {
        pruned += await deps.db('status_reports').whereIn('id', done.map((r) => r.id)).whereIn('outcome', DONE).andWhere('updated_at', '<', before).delete();
      }
      waiting ??= old.find((r) => !done.includes(r))?.id;
      if (old.length < rows.length || rows.length < batch) break;
      cursor = Number(rows[rows.length - 1]!.id);
    }
    reportsAfter = waiting !== undefined ? Math.min(cursor, Number(waiting) - 1) : cursor;
    if (pruned) deps.log.info({ pruned }, 'retention.reports_pruned');
    return pruned;
  }

  /**
   * The ids an SMS centre gave each part (message_parts) only serve receipts: older than `partsKeepMs` (the statuses
   * job's STATUS_MAX_AGE, after which a message's state is final anyway) they match nothing that could still change.
   * Nor can the gateway accounts a portal switched away from that long ago (retired_accounts, with their credentials).
   * Oldest first by id, in batches (one look through the table when none is left: it holds STATUS_MAX_AGE of parts).
   */
  async function prunePartIds(): Promise<number> {
    if (deps.partsKeepMs === undefined) return 0;
    const before = deps.clock() - deps.partsKeepMs;
    let pruned = 0;
    for (;;) {
      const ids = await deps.db('message_parts').where('created_at', '<', before).orderBy('id').limit(batch).pluck('id');
      if (!ids.length) break;
      pruned += await deps.db('message_parts').whereIn('id', ids).delete();
      if (ids.length < batch) break;
    }
    if (pruned) deps.log.info({ pruned }, 'retention.part_ids_pruned');
    let accounts = await deps.db('retired_accounts').where('retired_at', '<', before).delete();
    // Sooner, once none of its messages waits for its fate (an hour after the switch: a process that had the
    // account cached may have sent on it for a few seconds after the switch).
    const idle = await deps.db('retired_accounts').where('retired_at', '<', deps.clock() - RETIRED_IDLE_MS).select('portal_id', 'account_key');
    for (const r of idle) {
      const waiting = await deps.db('messages').where({ portal_id: r.portal_id, gateway_account: r.account_key }).whereIn('state', ['sending', 'sent']).first('id');
      if (!waiting) accounts += await deps.db('retired_accounts').where({ portal_id: r.portal_id, account_key: r.account_key }).delete();
    }
    if (accounts) deps.log.info({ accounts }, 'retention.retired_accounts_erased');
    return pruned;
  }

  return { runOnce, prunePartIds, pruneReports };
}

export type RetentionJob = ReturnType<typeof createRetentionJob>;
