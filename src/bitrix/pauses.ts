import type { Clock } from '../platform/clock.js';
import type { Db } from '../platform/db.js';
import type { Log } from '../platform/logger.js';
import { B24Error, PORTAL_PAUSED, operatingResetAt } from './errors.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The whole portal, as opposed to one of its methods (OPERATION_TIME_LIMIT blocks a single method). */
export const WHOLE_PORTAL = '*';

/**
 * Calls to a portal (scope `*`) or to one of its methods refused locally until `until`: Bitrix24 said it will not
 * take them for a while (errors.ts PAUSING). `since` is when this reason was first seen in a row, `strikes` how
 * many answers in a row said so; both drive the growing back-off and, for PORTAL_DELETED, the day it is given up.
 */
export interface Pause {
  portalId: number;
  scope: string;
  reason: string;
  since: number;
  strikes: number;
  until: number;
}

export interface PausePolicy {
  /** PORTAL_DELETED: after this long in a row the portal is called inactive (default 7 days). */
  closedGiveUpMs: number;
}

export const DEFAULT_PAUSE_POLICY: PausePolicy = { closedGiveUpMs: 7 * DAY };

// The time block's operating_reset_at ends an OPERATION_TIME_LIMIT; without one, the limit's own window is waited.
const OPERATING_WINDOW_MS = 10 * MINUTE; // b24restdocs limits.md: 480 s of execution within 10 minutes

/**
 * The next pause after `reason`, from the previous one (pure; the caller stores it):
 * - PORTAL_DELETED (an on-premise portal's public part is closed): 5 min, doubling up to 6 h, retried for days;
 * - OVERLOAD_LIMIT (a manual block lifted by Bitrix24's support; the docs name no duration): 1 h, doubling up to 24 h;
 * - OPERATION_TIME_LIMIT: until operating_reset_at when it is still ahead (at most the 10-minute window away), else
 *   the window.
 */
export function nextPause(prev: Pause | undefined, e: { portalId: number; scope: string; reason: string; resetAt?: number }, now: number): Pause {
  const again = prev !== undefined && prev.reason === e.reason;
  const strikes = again ? prev.strikes + 1 : 1;
  const since = again ? prev.since : now;
  const grow = (first: number, cap: number) => now + Math.min(cap, first * 2 ** Math.min(strikes - 1, 20));
  let until: number;
  if (e.reason === 'PORTAL_DELETED') until = grow(5 * MINUTE, 6 * HOUR);
  else if (e.reason === 'OVERLOAD_LIMIT') until = grow(HOUR, DAY);
  else until = e.resetAt !== undefined && e.resetAt > now ? Math.min(Math.max(e.resetAt, now + 1000), now + OPERATING_WINDOW_MS) : now + OPERATING_WINDOW_MS;
  return { portalId: e.portalId, scope: e.scope, reason: e.reason, since, strikes, until };
}

/**
 * The REST client's side of pauses: refuse a paused call without a request, record a pause Bitrix24 asked for,
 * clear it once a call works again.
 */
export function createPausing(deps: { store: PauseStore; policy?: PausePolicy; clock: Clock; log: Log }) {
  const policy = deps.policy ?? DEFAULT_PAUSE_POLICY;
  /** The latest operating_reset_at each portal's method answered with (epoch ms): when an OPERATION_TIME_LIMIT ends. */
  const resetHints = new Map<string, number>();
  const hintKey = (portalId: number, method: string) => `${portalId} ${method}`;

  /**
   * The pauses of the portal and of this method, ended ones included (a success clears them), and `refused`, a
   * retryable PORTAL_PAUSED, while one still runs: reports and other work back off and come again.
   */
  async function gate(portalId: number, method: string): Promise<{ known: Pause[]; refused?: B24Error }> {
    const known = await deps.store.find(portalId, method);
    const now = deps.clock();
    const running = known.filter((p) => p.until > now).sort((a, b) => b.until - a.until)[0];
    if (!running) return { known };
    const what = running.scope === WHOLE_PORTAL ? 'the portal' : running.scope;
    const why = `${what} is paused after ${running.reason} until ${new Date(running.until).toISOString()}`;
    return { known, refused: new B24Error(PORTAL_PAUSED, why, 'retryable', undefined, running.until) };
  }

  /** A call went through: the ended pauses it saw go (one another process stored since, still running, stays). */
  async function resume(portalId: number, known: Pause[]) {
    await deps.store.clear(portalId, known.map((p) => p.scope), deps.clock());
    deps.log.info({ portalId, reasons: known.map((p) => p.reason) }, 'b24.portal.resumed');
  }

  /**
   * Stores the pause `err` asks for, growing while the answer repeats. A portal whose public part stayed closed
   * (PORTAL_DELETED) for `closedGiveUpMs` is given up instead: the answer is then a terminal error to end it with.
   */
  async function record(portalId: number, method: string, err: B24Error, known: Pause[]): Promise<B24Error | undefined> {
    const now = deps.clock();
    const scope = err.code === 'OPERATION_TIME_LIMIT' ? method : WHOLE_PORTAL;
    const resetAt = err.resetAt ?? resetHints.get(hintKey(portalId, method));
    const next = nextPause(known.find((p) => p.scope === scope), { portalId, scope, reason: err.code, resetAt }, now);
    if (err.code === 'PORTAL_DELETED' && now - next.since >= policy.closedGiveUpMs) {
      await deps.store.clear(portalId, [scope]);
      return new B24Error(err.code, `${err.description} (closed since ${new Date(next.since).toISOString()})`, 'terminal', err.httpStatus);
    }
    await deps.store.save(next);
    deps.log.warn({ portalId, method, error: err.code, scope, strikes: next.strikes, until: next.until }, 'b24.portal.paused');
    return undefined;
  }

  /** A successful answer's `time` block: its operating_reset_at says when this method's limit would end. */
  function noteTime(portalId: number, method: string, time: unknown) {
    const resetAt = operatingResetAt(time);
    if (resetAt === undefined) return;
    if (resetHints.size >= 10_000) resetHints.clear();
    resetHints.set(hintKey(portalId, method), resetAt);
  }

  return { gate, resume, record, noteTime };
}

/** Where pauses are kept: shared by every process (the database), so no process calls a paused portal. */
export interface PauseStore {
  /** The portal's own pause and the method's, ended or not (an ended one is cleared by the next success). */
  find(portalId: number, method: string): Promise<Pause[]>;
  save(p: Pause): Promise<void>;
  /** The portal's pauses of these scopes; with `endedBy`, only those that ended by then. */
  clear(portalId: number, scopes: string[], endedBy?: number): Promise<void>;
  /** Every pause still running at `now`, for the console. */
  running(now: number): Promise<Pause[]>;
}

interface PauseRow {
  portal_id: number;
  scope: string;
  reason: string;
  since: number;
  strikes: number;
  until: number;
}

const toPause = (r: PauseRow): Pause => ({
  portalId: r.portal_id, scope: r.scope, reason: r.reason, since: Number(r.since), strikes: r.strikes, until: Number(r.until),
});

/** The `portal_pauses` table; its only owner. */
export function databasePauses(db: Db): PauseStore {
  const table = () => db<PauseRow>('portal_pauses');
  return {
    async find(portalId, method) {
      return (await table().where({ portal_id: portalId }).whereIn('scope', [WHOLE_PORTAL, method])).map(toPause);
    },
    async save(p) {
      const row = { portal_id: p.portalId, scope: p.scope, reason: p.reason, since: p.since, strikes: p.strikes, until: p.until };
      await table().insert(row).onConflict(['portal_id', 'scope']).merge();
    },
    async clear(portalId, scopes, endedBy) {
      if (!scopes.length) return;
      const q = table().where({ portal_id: portalId }).whereIn('scope', scopes);
      await (endedBy === undefined ? q : q.andWhere('until', '<=', endedBy)).delete();
    },
    async running(now) {
      return (await table().where('until', '>', now).orderBy(['portal_id', 'scope'])).map(toPause);
    },
  };
}

/** This process's memory, for a client built without a database. */
export function memoryPauses(): PauseStore {
  const all = new Map<string, Pause>();
  const key = (portalId: number, scope: string) => `${portalId}\u0000${scope}`;
  return {
    async find(portalId, method) {
      return [WHOLE_PORTAL, method].map((s) => all.get(key(portalId, s))).filter((p): p is Pause => p !== undefined);
    },
    async save(p) {
      all.set(key(p.portalId, p.scope), { ...p });
    },
    async clear(portalId, scopes, endedBy) {
      for (const s of scopes) if (endedBy === undefined || (all.get(key(portalId, s))?.until ?? 0) <= endedBy) all.delete(key(portalId, s));
    },
    async running(now) {
      return [...all.values()].filter((p) => p.until > now);
    },
  };
}
