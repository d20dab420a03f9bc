import { isIPv6 } from 'node:net';
import { ipv6Groups, mappedIPv4 } from '../platform/ip.js';

/**
 * Failed logins per key (an address, or a device) within a sliding window. At most `maxKeys` keys are held:
 * keys are kept in order of their last failure, so expired ones are dropped from the front first and, under a
 * flood of new keys, the longest-quiet key goes. Flooding needs as many addresses as the cap, and those already
 * get `limit` guesses each, so eviction gives an attacker nothing they did not have.
 */
export function createFailureLog(o: { limit: number; windowMs: number; maxKeys: number }) {
  const entries = new Map<string, number[]>();
  const recent = (key: string, now: number) => (entries.get(key) ?? []).filter((t) => now - t < o.windowMs);

  function sweep(now: number) {
    for (const [key, times] of entries) {
      if (entries.size < o.maxKeys) return;
      if (times.every((t) => now - t >= o.windowMs)) entries.delete(key);
      else break;
    }
    while (entries.size >= o.maxKeys) entries.delete(entries.keys().next().value!);
  }

  return {
    /** When a locked key opens again; undefined while it may try. */
    lockedUntil(key: string, now: number): number | undefined {
      const r = recent(key, now);
      return r.length >= o.limit ? r[r.length - o.limit]! + o.windowMs : undefined;
    },
    fail(key: string, now: number) {
      const r = [...recent(key, now), now].slice(-o.limit);
      entries.delete(key);
      sweep(now);
      entries.set(key, r);
    },
    clear(key: string) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}

export type FailureLog = ReturnType<typeof createFailureLog>;

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
