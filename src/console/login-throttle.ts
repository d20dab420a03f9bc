import { isIPv6 } from 'node:net';
import type { Db } from '../platform/db.js';
import { ipv6Groups, mappedIPv4 } from '../platform/ip.js';

/** The console's login throttle: 5 failures per 15 minutes lock an address (or a known device). */
export const LOGIN_THROTTLE = { limit: 5, windowMs: 15 * 60 * 1000 };

/** Failed logins per key (an address, or a device) within a sliding window. */
export interface FailureCounter {
  /** When a locked key opens again; undefined while it may try. */
  lockedUntil(key: string, now: number): Promise<number | undefined>;
  fail(key: string, now: number): Promise<void>;
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
    async lockedUntil(key, now) {
      const recent = await db('login_failures').where({ key: o.prefix + key }).andWhere('at', '>', now - o.windowMs).orderBy('at', 'desc').limit(o.limit).pluck('at');
      return recent.length >= o.limit ? Number(recent[o.limit - 1]) + o.windowMs : undefined;
    },
    async fail(key, now) {
      await db('login_failures').insert({ key: o.prefix + key, at: now });
      if (now - lastPrune > 60_000) {
        lastPrune = now;
        await db('login_failures').where('at', '<=', now - o.windowMs).delete();
      }
    },
    async clear(key) {
      await db('login_failures').where({ key: o.prefix + key }).delete();
    },
  };
}

/**
 * The throttle's key for a client address. An IPv6 user holds a whole /64, so it counts as one address;
 * IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  if (!isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip);
  return mappedIPv4(groups) ?? `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
