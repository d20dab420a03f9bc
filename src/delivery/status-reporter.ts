import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { B24Error } from '../bitrix/errors.js';
import type { BatchResult, RestClient } from '../bitrix/rest-client.js';
import { backoffMs } from './backoff.js';
import { createLoop } from './loop.js';
import { WAITING, type PendingReport, type ReportRepo } from './report-repo.js';
import type { IdentityRepo } from '../portals/identity-repo.js';
import type { Portal } from '../portals/portal-repo.js';
import type { Lease, Leases } from '../platform/leases.js';

const BATCH = 50; // commands per batch call (reference §6)
// Per-command errors worth another try; anything else (ERROR_MESSAGE_NOT_FOUND after Bitrix24's ~14-day purge,
// ERROR_MESSAGE_STATUS_INCORRECT…) will never succeed and is recorded and dropped.
const TRANSIENT = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'INTERNAL_SERVER_ERROR', 'NO_RESULT']);
/**
 * A message sent at once (core messageservice Message::sendDirectly) is recorded by Bitrix24 only after its queue
 * took our handler's call: a report quicker than that (a number refused at intake) finds no message yet. Not found
 * that early is tried again; later it means Bitrix24 purged it.
 */
const NOT_FOUND = 'ERROR_MESSAGE_NOT_FOUND';
const NOT_RECORDED_YET_MS = 5 * 60_000;
const DENIED = 'ACCESS_DENIED';
/**
 * Whole calls refused for the stored pair's user (core rest/lib/oauth/auth.php): deactivated or dismissed
 * (authorization_error), or no longer allowed to use the app (user_access_error). Every report of the call is then
 * refused as ACCESS_DENIED is: other identities, else it waits.
 */
const USER_REFUSED = new Set(['authorization_error', 'user_access_error']);
const PURGE_EVERY_MS = 60_000;
const WAITING_NOTE = `${WAITING}: no token we hold may report it`;

/** Reports final statuses to Bitrix24 with messageservice.message.status.update, 50 per batch call per portal. */
export function createStatusReporter(deps: {
  reports: ReportRepo;
  rest: RestClient;
  /** The other identities a report may go with when the stored pair is refused (issue 10 §3). */
  identities: IdentityRepo;
  portals: { findById(id: number): Promise<Portal | undefined> };
  /** Each portal's reports go from one process at a time (`reports:<portal id>`). */
  leases: Leases;
  clock: Clock;
  log: Log;
  options: { claimLimit: number; leaseMs: number; maxAgeMs: number; retryBaseMs: number; retryCapMs: number; idlePollMs: number; lingerMs: number };
  random?: () => number;
  onReport?: (outcome: 'reported' | 'dropped' | 'retry' | 'waiting', n: number) => void;
}) {
  const o = deps.options;
  const random = deps.random ?? Math.random;
  const count = (outcome: 'reported' | 'dropped' | 'retry' | 'waiting', n: number) => n && deps.onReport?.(outcome, n);

  async function retryOrDrop(rs: PendingReport[], error: string) {
    const now = deps.clock();
    // A report waiting for a token that may set it is kept whatever its age; only Bitrix24's own purge ends it.
    const old = (r: PendingReport) => now - r.created_at >= o.maxAgeMs && !r.last_error?.startsWith(WAITING);
    const tooOld = rs.filter(old);
    for (const r of tooOld) await deps.reports.drop(r.id, `gave up: ${error}`, now);
    const again = rs.filter((r) => !old(r));
    const attempts = Math.max(1, ...again.map((r) => r.attempts));
    const at = now + backoffMs(attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs });
    // A waiting report stays marked as waiting through a failed try (a 5xx, a pause), or the next one would drop it.
    const waiting = again.filter((r) => r.last_error?.startsWith(WAITING));
    await deps.reports.retry(again.filter((r) => !waiting.includes(r)).map((r) => r.id), at, error, now);
    await deps.reports.retry(waiting.map((r) => r.id), at, `${WAITING_NOTE} (last try: ${error})`, now);
    count('dropped', tooOld.length);
    count('retry', again.length);
  }

  const commandOf = (r: PendingReport) => ({ method: 'messageservice.message.status.update', params: { CODE: r.code, MESSAGE_ID: r.b24_message_id, STATUS: r.status } });

  /**
   * One batch call for the chunk, its results applied. True when Bitrix24 failed the whole call on its side (a 5xx):
   * one command can do that (core CRestServer catches exceptions per command, not PHP errors), so a chunk that failed
   * so twice before is split in halves (`split`), and the half that fails alone again, until the report that fails
   * the call is on its own and the others are through. When both halves fail, Bitrix24 itself is failing: back-off.
   */
  async function reportChunk(portalId: number, chunk: PendingReport[], split = true): Promise<boolean> {
    let results;
    try {
      results = await deps.rest.batch(portalId, chunk.map(commandOf));
    } catch (err) {
      const code = err instanceof B24Error ? err.code : String(err);
      if (code === 'PORTAL_UNINSTALLED') {
        // Nobody can see these any more (a reinstall starts afresh): record and drop instead of retrying for days.
        for (const r of chunk) await deps.reports.drop(r.id, code, deps.clock());
        count('dropped', chunk.length);
        deps.log.info({ portalId, n: chunk.length }, 'status.report.dropped');
        return false;
      }
      const serverFailed = err instanceof B24Error && (err.httpStatus ?? 0) >= 500 && code !== 'QUERY_LIMIT_EXCEEDED';
      if (serverFailed && split && chunk.length > 1 && Math.max(...chunk.map((r) => r.attempts)) >= 3) {
        deps.log.warn({ portalId, error: code, n: chunk.length }, 'status.report.split');
        const half = Math.ceil(chunk.length / 2);
        const [a, b] = [chunk.slice(0, half), chunk.slice(half)];
        const [failedA, failedB] = [await reportChunk(portalId, a, false), await reportChunk(portalId, b, false)];
        if (failedA !== failedB) await reportChunk(portalId, failedA ? a : b);
        return failedA && failedB;
      }
      if (!USER_REFUSED.has(code)) {
        deps.log.warn({ portalId, error: code, n: chunk.length }, 'status.report.deferred');
        await retryOrDrop(chunk, code);
        return serverFailed;
      }
      deps.log.warn({ portalId, error: code }, 'status.report.user_refused');
      results = chunk.map((): BatchResult => ({ ok: false, error: DENIED, description: (err as B24Error).description }));
    }
    results = await otherIdentities(portalId, chunk, results);
    const now = deps.clock();
    const reported: number[] = [];
    const transient: PendingReport[] = [];
    const denied: PendingReport[] = [];
    for (const [i, r] of results.entries()) {
      const report = chunk[i]!;
      if (r.ok) reported.push(report.id);
      else if (TRANSIENT.has(r.error) || (r.error === NOT_FOUND && now - report.created_at < NOT_RECORDED_YET_MS)) transient.push(report);
      else if (r.error === DENIED) denied.push(report);
      else {
        await deps.reports.drop(report.id, `${r.error}: ${r.description}`, now);
        deps.log.warn({ portalId, b24MessageId: report.b24_message_id, error: r.error }, 'status.report.dropped');
        count('dropped', 1);
      }
    }
    await deps.reports.markReported(reported, now);
    count('reported', reported.length);
    if (transient.length) await retryOrDrop(transient, 'transient error');
    if (reported.length) deps.log.info({ portalId, n: reported.length }, 'status.reported');
    if (denied.length) {
      // No token we hold may set these statuses: they wait (never dropped for age) until an administrator opens the
      // app's page, which gives us their token and wakes them.
      const attempts = Math.max(1, ...denied.map((r) => r.attempts));
      await deps.reports.retry(denied.map((r) => r.id), now + backoffMs(attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs }), WAITING_NOTE, now);
      await deps.identities.setReportsWaiting(portalId, now);
      deps.log.warn({ portalId, n: denied.length }, 'status.report.waiting');
      count('waiting', denied.length);
    } else if (reported.length && !(await deps.reports.anyWaiting(portalId))) {
      await deps.identities.setReportsWaiting(portalId, null);
    }
    return false;
  }

  /**
   * messageservice.message.status.update is allowed to the message's author or an administrator (core
   * RestService::updateMessageStatus). What the stored pair was refused (its user is no administrator any more) goes
   * again with the latest verified administrator's pair, which then becomes the stored one; what is still refused, with
   * each author's own short-lived token from the handler call. Results come back in the chunk's order.
   */
  async function otherIdentities(portalId: number, chunk: PendingReport[], results: BatchResult[]): Promise<BatchResult[]> {
    const out = [...results];
    const refused = () => chunk.map((r, i) => ({ r, i })).filter(({ i }) => !out[i]!.ok && (out[i] as { error: string }).error === DENIED);
    if (!refused().length) return out;
    if (await deps.identities.promoteAdmin(portalId, deps.clock())) {
      deps.log.warn({ portalId }, 'status.report.admin_token_promoted');
      const again = refused();
      const answers = await deps.rest.batch(portalId, again.map(({ r }) => commandOf(r))).catch(() => undefined);
      answers?.forEach((a, k) => (out[again[k]!.i] = a));
    }
    const byAuthor = new Map<number, Array<{ r: PendingReport; i: number }>>();
    for (const e of refused()) {
      if (e.r.author_id == null) continue;
      const list = byAuthor.get(e.r.author_id);
      if (list) list.push(e);
      else byAuthor.set(e.r.author_id, [e]);
    }
    if (!byAuthor.size) return out;
    const portal = await deps.portals.findById(portalId);
    if (!portal) return out;
    const target = { endpoint: portal.restEndpoint, memberId: portal.memberId, portalId };
    for (const [authorId, list] of byAuthor) {
      const token = await deps.identities.authorToken(portalId, authorId, deps.clock());
      if (!token) continue;
      const answers = await deps.rest.batchAs(target, token, list.map(({ r }) => commandOf(r))).catch((err) => {
        deps.log.info({ portalId, authorId, error: err instanceof B24Error ? err.code : String(err) }, 'status.report.author_token_refused');
        return undefined;
      });
      if (!answers) {
        await deps.identities.forgetAuthor(portalId, authorId); // refused as a whole (expired, revoked): of no more use
        continue;
      }
      answers.forEach((a, k) => (out[list[k]!.i] = a));
      deps.log.info({ portalId, authorId, n: answers.filter((a) => a.ok).length }, 'status.report.author_token_used');
      // Used: kept only while more of this author's reports wait for it.
      if (!(await deps.reports.pendingForAuthor(portalId, authorId, list.map(({ r }) => r.id)))) await deps.identities.forgetAuthor(portalId, authorId);
    }
    return out;
  }

  /**
   * Fill or flush: per portal, full batches of 50 go at once; a smaller remainder waits until its oldest
   * report is `lingerMs` old, so statuses that trickle in (one DLR at a time) still share batch calls.
   */
  function choose(due: Array<{ id: number; portal_id: number; created_at: number }>, now: number): number[] {
    const byPortal = new Map<number, typeof due>();
    for (const r of due) {
      const list = byPortal.get(r.portal_id);
      if (list) list.push(r);
      else byPortal.set(r.portal_id, [r]);
    }
    const chosen: number[] = [];
    for (const rs of byPortal.values()) {
      const full = rs.length - (rs.length % BATCH);
      const rest = rs.slice(full);
      const take = rest.length && now - Math.min(...rest.map((r) => r.created_at)) >= o.lingerMs ? rs : rs.slice(0, full);
      chosen.push(...take.map((r) => r.id));
    }
    return chosen;
  }

  /**
   * Starts reporting what is due, each portal on its own (each has its own rate limit), chunks in order. A portal
   * whose call is still in flight (a slow or hanging Bitrix24) is left out of the pass, not waited for: the
   * other portals' reports go out meanwhile, and its own next ones once it answers or its deadline passes.
   */
  const busy = new Set<number>();
  const inFlight = new Set<Promise<void>>();
  let purgedAt = -Infinity;
  async function pass(opts: { flush?: boolean } = {}): Promise<{ claimed: number; done: Promise<unknown> }> {
    const now = deps.clock();
    if (now - purgedAt >= PURGE_EVERY_MS) {
      purgedAt = now;
      await deps.identities.purgeExpired(now); // an author's token nobody can use any more is not kept
    }
    const due = await deps.reports.due(now, o.claimLimit, [...busy]);
    const chosen = new Set(opts.flush ? due.map((r) => r.id) : choose(due, now));
    // A portal whose reports another process is sending now is left to it: one process a portal at a time.
    const held = new Map<number, Lease>();
    for (const portalId of new Set(due.filter((r) => chosen.has(r.id)).map((r) => r.portal_id))) {
      const lease = await deps.leases.take(`reports:${portalId}`, now, o.leaseMs);
      if (lease) held.set(portalId, lease);
    }
    const claimed = await deps.reports.claim(due.filter((r) => chosen.has(r.id) && held.has(r.portal_id)).map((r) => r.id), now, o.leaseMs);
    const byPortal = new Map<number, PendingReport[]>();
    for (const r of claimed) {
      const list = byPortal.get(r.portal_id);
      if (list) list.push(r);
      else byPortal.set(r.portal_id, [r]);
    }
    for (const [portalId, lease] of held) if (!byPortal.has(portalId)) await lease.release(now); // all taken meanwhile
    const done = [...byPortal].map(([portalId, rs]) => {
      busy.add(portalId);
      const lease = held.get(portalId)!;
      // Renewed while the portal's calls are in flight (one can take the REST client's retries, over a minute).
      let lost = false;
      const beat = setInterval(() => void lease.renew(deps.clock(), o.leaseMs).then((ok) => (lost ||= !ok), () => {}), o.leaseMs / 4);
      beat.unref();
      const run = (async () => {
        for (let i = 0; i < rs.length && !lost; i += BATCH) await reportChunk(portalId, rs.slice(i, i + BATCH));
      })()
        .catch((err) => deps.log.error({ portalId, err: String(err) }, 'status.report.error')) // the lease expires, they come due again
        .finally(async () => {
          clearInterval(beat);
          await lease.release(deps.clock()).catch(() => {});
          busy.delete(portalId);
          inFlight.delete(run);
          loop.kick();
        });
      inFlight.add(run);
      return run;
    });
    return { claimed: claimed.length, done: Promise.all(done) };
  }

  /** One pass for tests: report what is due and wait until every portal of it has answered. */
  async function runOnce(opts: { flush?: boolean } = {}): Promise<number> {
    const { claimed, done } = await pass(opts);
    await done;
    return claimed;
  }

  // Polls at the linger interval so a held remainder goes out on time; a kick brings full batches at once,
  // and a portal that finishes kicks the loop for whatever it was left out of.
  const loop = createLoop({ name: 'reporter', step: async () => (await pass()).claimed, idleMs: Math.min(o.idlePollMs, Math.max(100, o.lingerMs)), log: deps.log });

  /** Stops passing, then lets the portals in flight finish (or reach their deadline). */
  async function stop() {
    await loop.stop();
    await Promise.allSettled([...inFlight]);
  }

  return { runOnce, start: loop.start, stop, kick: loop.kick };
}

export type StatusReporter = ReturnType<typeof createStatusReporter>;
