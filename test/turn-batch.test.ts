import { describe, expect, it } from 'vitest';
import { perTurn } from '../src/platform/turn-batch.js';

describe('group commit per turn of the event loop (perTurn)', () => {
  it('hands the calls of one turn over together and answers each caller with its own result', async () => {
    const groups: number[][] = [];
    const double = perTurn(async (xs: number[]) => (groups.push(xs), xs.map((x) => x * 2)));
    const first = await Promise.all([double(1), double(2), double(3)]);
    const later = await double(4);
    expect(first).toEqual([2, 4, 6]);
    expect(later).toBe(8);
    expect(groups).toEqual([[1, 2, 3], [4]]);
  });

  it('when a group fails, tries each item alone: only the bad one fails', async () => {
    const groups: number[][] = [];
    const checked = perTurn(async (xs: number[]) => {
      groups.push(xs);
      if (xs.includes(13)) throw new Error('13 is refused');
      return xs;
    });
    const results = await Promise.allSettled([checked(12), checked(13), checked(14)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('13 is refused');
    expect(groups).toEqual([[12, 13, 14], [12], [13], [14]]);
  });
});
