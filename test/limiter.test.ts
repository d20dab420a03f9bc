import { describe, expect, it } from 'vitest';
import { createLimiter } from '../src/bitrix/limiter.js';
import { createTestContext } from './helpers/app.js';
import { loadConfig } from '../src/platform/config.js';

describe('leaky-bucket limiter', () => {
  it('lets a burst through at once, then paces calls at the drain rate', async () => {
    let t = 0;
    const waits: number[] = [];
    const limiter = createLimiter({ burst: 50, perSecond: 2, now: () => t, sleep: async (ms) => { waits.push(ms); t += ms; } });
    expect(limiter.capacity).toBe(49);
    const done: number[] = [];
    for (let i = 0; i < 53; i++) {
      await limiter.acquire('p1');
      done.push(t);
    }
    expect(done.slice(0, 49).every((x) => x === 0)).toBe(true);
    expect(done.slice(49)).toEqual([500, 1000, 1500, 2000]);
    // Another portal has its own bucket.
    await limiter.acquire('p2');
    expect(t).toBe(2000);
  });
});

describe('leaky-bucket limiter after a stall', () => {
  it('lets only a burst\'s worth go when a stalled event loop wakes, then paces again', async () => {
    let t = 0;
    const timers: Array<{ at: number; fire: () => void }> = [];
    const limiter = createLimiter({ burst: 5, perSecond: 10, jitterMs: 1, now: () => t, sleep: (ms) => new Promise<void>((r) => timers.push({ at: t + ms, fire: r })) });
    const settle = async () => {
      for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
    };
    const went: number[] = [];
    const calls = Array.from({ length: 20 }, () => limiter.acquire('p').then(() => went.push(t)));
    await settle();
    expect(went).toHaveLength(limiter.capacity); // the burst, at once

    t = 5_000; // the loop stalls for five seconds: every timer is overdue when it wakes
    for (const timer of timers.splice(0)) if (timer.at <= t) timer.fire();
    await settle();
    expect(went.filter((at) => at === 5_000).length).toBeLessThanOrEqual(limiter.capacity);

    while (went.length < 20) {
      t = Math.min(...timers.map((x) => x.at));
      for (const timer of timers.splice(0)) if (timer.at <= t) timer.fire(); else timers.push(timer);
      await settle();
    }
    await Promise.all(calls);
    // After the stall, calls are spaced by the drain interval (100 ms) once the burst is spent.
    const after = went.filter((at) => at > 5_000);
    for (let i = 1; i < after.length; i++) expect(after[i]! - after[i - 1]!).toBeGreaterThanOrEqual(100);
  });
});

describe('B24_RATE_JITTER', () => {
  it('keeps that much of each portal\'s bucket free: 3 s at 2 calls/s is 6 of a burst of 20', async () => {
    const ctx = await createTestContext({ env: { B24_RATE_BURST: '20', B24_RATE_PER_SECOND: '2', B24_RATE_JITTER: '3s' } });
    try {
      expect(ctx.deps.limiter.capacity).toBe(14);
    } finally {
      await ctx.close();
    }
    expect(() => loadConfig({ B24_RATE_JITTER: 'soon' })).toThrow(/B24_RATE_JITTER/);
  });
});
