/**
 * Per-portal leaky bucket, mirroring Bitrix24's own (reference §6: burst 50, 2 requests/s).
 * Implemented as GCRA: each portal keeps a "theoretical arrival time"; a call may go when the
 * bucket has room, otherwise it waits exactly as long as the bucket needs to drain one slot.
 * Reservations are taken synchronously, so concurrent callers queue in order.
 *
 * Calls to one portal take their slots one after another, each against the clock when it really goes: when the event
 * loop stalls (a busy machine), the calls that waited do not all leave at once when it wakes, only a burst's worth.
 *
 * Headroom: Bitrix24 measures arrivals, not our sends, and an arrival delayed by d ms has drained
 * d·rate less, so network and event-loop jitter can push the portal's bucket above ours. We keep
 * `jitterMs` worth of slots free (at least one): at 2 requests/s and 300 ms that is 1 of 50.
 */
export function createLimiter(opts: {
  burst: number;
  perSecond: number;
  jitterMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}) {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const interval = 1000 / opts.perSecond;
  const headroom = Math.max(1, Math.ceil((opts.perSecond * (opts.jitterMs ?? 300)) / 1000));
  const capacity = Math.max(1, opts.burst - headroom);
  const tolerance = (capacity - 1) * interval;
  const tat = new Map<string | number, number>();
  const lines = new Map<string | number, Promise<void>>();

  /** Waits until one call to `key` fits in the bucket, and takes its slot. */
  async function acquire(key: string | number): Promise<void> {
    const ahead = lines.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const mine = ahead.then(() => new Promise<void>((r) => (leave = r)));
    lines.set(key, mine);
    await ahead;
    try {
      // Timers count from libuv's cached loop time and can fire early or late: the bucket is checked again on waking.
      for (;;) {
        const t = now();
        const arrival = Math.max(tat.get(key) ?? t, t);
        const wait = arrival - tolerance - t;
        if (wait <= 0) {
          tat.set(key, arrival + interval);
          return;
        }
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
