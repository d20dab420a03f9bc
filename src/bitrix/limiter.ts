import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';

/**
 * Where the buckets live. `take` takes one slot of `key` at time `now` if the bucket has room (the key's
 * "theoretical arrival time" `tat` is at most `tolerance` ahead of `now`), and answers 0; else it takes nothing and
 * answers how many ms until a slot frees.
 */
export interface BucketStore {
  take(key: string, now: number, interval: number, tolerance: number): Promise<number> | number;
}

/** This process's memory: right for one process alone (and for tests). */
export function memoryBuckets(): BucketStore {
  const tat = new Map<string, number>();
  return {
    take(key, now, interval, tolerance) {
      const arrival = Math.max(tat.get(key) ?? now, now);
      const wait = arrival - tolerance - now;
      if (wait > 0) return wait;
      tat.set(key, arrival + interval);
      return 0;
    },
  };
}

/**
 * The database every process of the service shares (SQLite file or PostgreSQL): one atomic statement per take, so
 * any number of web and worker processes, on any number of machines, together stay inside one portal's bucket.
 * Times are wall-clock epoch ms: the machines' clocks must agree (NTP) to within the limiter's jitter headroom.
 */
export function databaseBuckets(db: Db): BucketStore {
  const greatest = isPostgres(db) ? 'GREATEST' : 'MAX';
  return {
    async take(key, now, interval, tolerance) {
      const res = await db.raw(
        `INSERT INTO rate_limits (bucket, tat) VALUES (?, ?)
         ON CONFLICT (bucket) DO UPDATE SET tat = ${greatest}(rate_limits.tat, ?) + ?
           WHERE ${greatest}(rate_limits.tat, ?) - ? <= ?
         RETURNING tat`,
        [key, now + interval, now, interval, now, tolerance, now],
      );
      const taken = (isPostgres(db) ? res.rows : res) as unknown[];
      if (taken.length) return 0;
      const row = await db('rate_limits').where({ bucket: key }).first('tat');
      return Math.max(1, Math.max(Number(row?.tat ?? now), now) - tolerance - now);
    },
  };
}

/**
 * Per-portal leaky bucket, mirroring Bitrix24's own (reference §6: burst 50, 2 requests/s), as GCRA: each portal
 * keeps a "theoretical arrival time"; a call may go when the bucket has room, otherwise it waits as long as the
 * bucket needs to drain one slot, and asks again.
 *
 * In one process, calls to one portal wait in line (only the first asks the store); each takes its slot against
 * the clock when it really goes, so when the event loop stalls, the calls that waited do not all leave at once when
 * it wakes, only a burst's worth.
 *
 * Headroom: Bitrix24 measures arrivals, not our sends, and an arrival delayed by d ms has drained d·rate less, so
 * network and event-loop jitter can push the portal's bucket above ours. We keep `jitterMs` worth of slots free
 * (at least one): at 2 requests/s and 300 ms that is 1 of 50.
 */
export function createLimiter(opts: {
  burst: number;
  perSecond: number;
  jitterMs?: number;
  store?: BucketStore;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}) {
  const store = opts.store ?? memoryBuckets();
  const now = opts.now ?? (() => Date.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  // Whole milliseconds (the store's column is an integer), rounded up: never faster than the rate asked for.
  const interval = Math.ceil(1000 / opts.perSecond);
  const headroom = Math.max(1, Math.ceil((opts.perSecond * (opts.jitterMs ?? 300)) / 1000));
  const capacity = Math.max(1, opts.burst - headroom);
  const tolerance = (capacity - 1) * interval;
  const lines = new Map<string, Promise<void>>();

  /** Waits until one call to `key` fits in the bucket, and takes its slot. */
  async function acquire(portal: string | number): Promise<void> {
    const key = String(portal);
    const ahead = lines.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const mine = ahead.then(() => new Promise<void>((r) => (leave = r)));
    lines.set(key, mine);
    await ahead;
    try {
      // Timers can fire early or late, and other processes take slots meanwhile: the bucket is asked again on waking.
      for (;;) {
        const wait = await store.take(key, now(), interval, tolerance);
        if (wait <= 0) return;
        await sleep(Math.ceil(wait));
      }
    } finally {
      leave();
      if (lines.get(key) === mine) lines.delete(key);
    }
  }

  return { acquire, capacity };
}

export type Limiter = ReturnType<typeof createLimiter>;
