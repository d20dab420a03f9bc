import type { Db } from '../platform/db.js';

/** The console's login throttle: 5 failures per 15 minutes lock an address (or a known device). */
export const LOGIN_THROTTLE = { limit: 5, windowMs: 15 * 60 * 1000 };

/** Failed logins per key (an address, or a device) within a sliding window. */
export interface FailureCounter {
  /**
   * A login attempt, counted as a failure before its password is compared: guesses sent all at once cannot each pass
   * the check before any of them is written down. Refused (and not counted) while the key has `limit` failures in
   * the window, with when it opens again; otherwise `passed()` takes the attempt back when the password was right.
   */
  attempt(key: string, now: number): Promise<{ lockedUntil: number } | { passed: () => Promise<void> }>;
  clear(key: string): Promise<void>;
}

/**
 * Kept in the database, so that every web process (and machine) counts one guesser's failures together:
 * N processes no longer give N × `limit` guesses (the in-memory log it replaces did). Rows older than the window are
 * pruned as failures come in, so the table holds about one window's failures (a flood of guesses from many addresses
 * is rows, not memory).
 */
export function databaseFailureLog(db: Db, o: { limit: number; windowMs: number; prefix: string }): FailureCounter {
  let lastPrune = 0;
  return {
    async attempt(key, now) {
      const k = o.prefix + key;
      const [row] = await db('login_failures').insert({ key: k, at: now }).returning('id');
      const id = Number(typeof row === 'object' ? row.id : row);
      // The failures written before this one committed are all seen: of attempts made at once, the n-th to commit
      // sees at least n - 1 others, so no more than `limit` of them ever find fewer than `limit`.
      const others = await db('login_failures').where({ key: k }).andWhere('at', '>', now - o.windowMs).andWhereNot({ id })
        .orderBy('at', 'desc').limit(o.limit).pluck('at');
      const forget = () => db('login_failures').where({ id }).delete().then(() => undefined);
      if (others.length >= o.limit) {
        await forget();
        return { lockedUntil: Number(others[o.limit - 1]) + o.windowMs };
      }
      if (now - lastPrune > 60_000) {
        lastPrune = now;
        await db('login_failures').where('at', '<=', now - o.windowMs).delete();
      }
      return { passed: forget };
    },
    async clear(key) {
      await db('login_failures').where({ key: o.prefix + key }).delete();
    },
  };
}
