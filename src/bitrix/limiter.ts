/**
 * Per-portal leaky bucket, mirroring Bitrix24's own (reference §6: burst 50, 2 requests/s).
 * Implemented as GCRA: each portal keeps a "theoretical arrival time"; a call may go when the
 * bucket has room, otherwise it waits exactly as long as the bucket needs to drain one slot.
 * Reservations are taken synchronously, so concurrent callers queue in order.
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

  /** Waits until one call to `key` fits in the bucket, and takes its slot. */
  async function acquire(key: string | number): Promise<void> {
    const t = now();
    const arrival = Math.max(tat.get(key) ?? t, t);
    const allowedAt = arrival - tolerance;
    tat.set(key, arrival + interval);
    // Timers count from libuv's cached loop time and can fire early; sleeping "enough" is checked again.
    for (let wait = allowedAt - t; wait > 0; wait = allowedAt - now()) await sleep(Math.ceil(wait));
  }

  return { acquire, capacity };
}

export type Limiter = ReturnType<typeof createLimiter>;
