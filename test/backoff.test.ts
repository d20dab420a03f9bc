import { describe, expect, it } from 'vitest';
import { backoffMs } from '../src/delivery/backoff.js';

describe('backoff', () => {
  it('starts at about 2 s and doubles', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 0.5))).toEqual([2000, 4000, 8000, 16000]);
  });
  it('is capped at 5 minutes, jitter included', () => {
    expect(backoffMs(20, 0.5)).toBe(300_000);
    expect(backoffMs(20, 1)).toBe(300_000);
    expect(backoffMs(9, 1)).toBe(300_000);
  });
  it('spreads retries by ±25%', () => {
    expect(backoffMs(1, 0)).toBe(1500);
    expect(backoffMs(1, 1)).toBe(2500);
    expect(backoffMs(3, 0, { baseMs: 100, capMs: 1000 })).toBe(300);
  });
});
