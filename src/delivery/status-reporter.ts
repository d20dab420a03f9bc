import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { B24Error } from '../bitrix/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';
import { backoffMs } from './backoff.js';
import { createLoop } from './loop.js';
import type { PendingReport, ReportRepo } from './report-repo.js';

const BATCH = 50; // commands per batch call (reference §6)
// Per-command errors worth another try; anything else (ERROR_MESSAGE_NOT_FOUND after Bitrix24's ~14-day purge,
// ERROR_MESSAGE_STATUS_INCORRECT…) will never succeed and is recorded and dropped.
const TRANSIENT = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'INTERNAL_SERVER_ERROR', 'NO_RESULT']);

/** Reports final statuses to Bitrix24 with messageservice.message.status.update, 50 per batch call per portal. */
export function createStatusReporter(deps: {
  reports: ReportRepo;
  rest: RestClient;
  clock: Clock;
  log: Log;
  options: { claimLimit: number; leaseMs: number; maxAgeMs: number; retryBaseMs: number; retryCapMs: number; idlePollMs: number; lingerMs: number };
  random?: () => number;
  onReport?: (outcome: 'reported' | 'dropped' | 'retry', n: number) => void;
}) {
  const o = deps.options;
  const random = deps.random ?? Math.random;
  const count = (outcome: 'reported' | 'dropped' | 'retry', n: number) => n && deps.onReport?.(outcome, n);

  async function retryOrDrop(rs: PendingReport[], error: string) {
    const now = deps.clock();
    const tooOld = rs.filter((r) => now - r.created_at >= o.maxAgeMs);
    for (const r of tooOld) await deps.reports.drop(r.id, `gave up: ${error}`, now);
    const again = rs.filter((r) => now - r.created_at < o.maxAgeMs);
    const attempts = Math.max(1, ...again.map((r) => r.attempts));
    await deps.reports.retry(again.map((r) => r.id), now + backoffMs(attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs }), error, now);
    count('dropped', tooOld.length);
    count('retry', again.length);
  }

  async function reportChunk(portalId: number, chunk: PendingReport[]) {
    let results;
    try {
      results = await deps.rest.batch(portalId, chunk.map((r) => ({
        method: 'messageservice.message.status.update',
        params: { CODE: r.code, MESSAGE_ID: r.b24_message_id, STATUS: r.status },
      })));
    } catch (err) {
      const code = err instanceof B24Error ? err.code : String(err);
      if (code === 'PORTAL_UNINSTALLED') {
        // Nobody can see these any more (a reinstall starts afresh): record and drop instead of retrying for days.
        for (const r of chunk) await deps.reports.drop(r.id, code, deps.clock());
        count('dropped', chunk.length);
        return deps.log.info({ portalId, n: chunk.length }, 'status.report.dropped');
      }
      deps.log.warn({ portalId, error: code, n: chunk.length }, 'status.report.deferred');
      return retryOrDrop(chunk, code);
    }
    const now = deps.clock();
    const reported: number[] = [];
    const transient: PendingReport[] = [];
    for (const [i, r] of results.entries()) {
      const report = chunk[i]!;
      if (r.ok) reported.push(report.id);
      else if (TRANSIENT.has(r.error)) transient.push(report);
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
  async function pass(opts: { flush?: boolean } = {}): Promise<{ claimed: number; done: Promise<unknown> }> {
    const now = deps.clock();
    const due = await deps.reports.due(now, o.claimLimit, [...busy]);
    const ids = opts.flush ? due.map((r) => r.id) : choose(due, now);
    const claimed = await deps.reports.claim(ids, now, o.leaseMs);
    const byPortal = new Map<number, PendingReport[]>();
    for (const r of claimed) {
      const list = byPortal.get(r.portal_id);
      if (list) list.push(r);
      else byPortal.set(r.portal_id, [r]);
    }
    const done = [...byPortal].map(([portalId, rs]) => {
      busy.add(portalId);
      const run = (async () => {
        for (let i = 0; i < rs.length; i += BATCH) await reportChunk(portalId, rs.slice(i, i + BATCH));
      })()
        .catch((err) => deps.log.error({ portalId, err: String(err) }, 'status.report.error')) // the lease expires, they come due again
        .finally(() => {
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
