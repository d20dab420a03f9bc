import { describe, expect, it } from 'vitest';
import { createLimiter } from '../src/bitrix/limiter.js';

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
