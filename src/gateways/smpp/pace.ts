/**
 * An account's pace: submits leave at most `limit` per second, evenly spaced (a centre counting per second, or with
 * a small bucket, never sees a burst). The centre asking us to slow down (ESME_RTHROTTLED, ESME_RMSGQFUL) halves
 * the pace and pauses a second; each accepted submit gives one message per second back, up to the limit.
 */
export function createPace(limit: number, now: () => number = Date.now, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))) {
  let max = Math.max(1, limit);
  let rate = max;
  let next = 0;

  return {
    /** Waits for this submit's turn; false, without waiting, when the turn is more than `waitMs` away. */
    async take(waitMs: number): Promise<boolean> {
      const t = now();
      const at = Math.max(t, next);
      if (at - t > waitMs) return false;
      next = at + 1000 / rate;
      if (at > t) await sleep(at - t);
      return true;
    },
    slowDown() {
      rate = Math.max(1, rate / 2);
      next = Math.max(next, now() + 1000);
    },
    ok() {
      if (rate < max) rate = Math.min(max, rate + 1);
    },
    setLimit(limit: number) {
      max = Math.max(1, limit);
      rate = Math.min(rate, max);
    },
    rate: () => rate,
  };
}
