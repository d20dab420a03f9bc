/**
 * Per-portal leaky bucket, mirroring Bitrix24's own (reference §6: burst 50, 2 requests/s).
 * Implemented as GCRA: each portal keeps a "theoretical arrival time"; a call may go when the
 * bucket has room, otherwise it waits exactly as long as the bucket needs to drain one slot.
 * Reservations are taken synchronously, so concurrent callers queue in order.
 * One slot of headroom absorbs network jitter between our clock and the portal's.
 */
export function createLimiter(opts: {
  burst: number;
  perSecond: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}) {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const interval = 1000 / opts.perSecond;
  const tolerance = (Math.max(1, opts.burst - 1) - 1) * interval;
  const tat = new Map<string | number, number>();

  /** Waits until one call to `key` fits in the bucket, and takes its slot. */
  async function acquire(key: string | number): Promise<void> {
    const t = now();
    const arrival = Math.max(tat.get(key) ?? t, t);
    const allowedAt = arrival - tolerance;
    tat.set(key, arrival + interval);
    if (allowedAt > t) await sleep(allowedAt - t);
  }

  /** Forget idle portals so the map does not grow without bound. */
  function prune(): void {
    const t = now();
    for (const [k, v] of tat) if (v < t) tat.delete(k);
  }

  return { acquire, prune };
}

export type Limiter = ReturnType<typeof createLimiter>;
