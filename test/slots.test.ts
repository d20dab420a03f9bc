import { describe, expect, it } from 'vitest';
import { createSlots, type Slots } from '../src/delivery/slots.js';

/** One fill pass as the worker runs it, every due account having more work than it may take. */
function pass(slots: Slots, due: number[]): Map<number, number> {
  const got = new Map<number, number>();
  for (const { account, upTo } of slots.turns(due)) {
    const n = Math.min(upTo, slots.freeFor(account));
    for (let i = 0; i < n; i++) slots.take(account);
    if (n > 0) got.set(account, n);
  }
  return got;
}

/** Passes until nothing more is taken, as the worker's fill does. */
function fill(slots: Slots, due: number[]) {
  while (pass(slots, due).size > 0);
}

/** A small deterministic generator, so that the property checks below see the same states on every run. */
function prng(seed: number) {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

describe('send worker slots', () => {
  it('keep a reserve of min(GATEWAY_CONCURRENCY, a quarter of the slots), at least one when there are two slots', () => {
    expect(createSlots(32, 8).reserve).toBe(8);
    expect(createSlots(8, 4).reserve).toBe(2);
    expect(createSlots(32, 2).reserve).toBe(2);
    expect(createSlots(4, 2).reserve).toBe(1);
    expect(createSlots(2, 1).reserve).toBe(1);
    expect(createSlots(1, 1).reserve).toBe(0);
  });

  it('let a portal with nothing in flight take its whole GATEWAY_CONCURRENCY at once when slots are plenty', () => {
    const slots = createSlots(32, 8);
    expect(pass(slots, [1])).toEqual(new Map([[1, 8]]));
    expect(slots.freeFor(1)).toBe(0);
    expect(slots.free()).toBe(24);
  });

  it('spread few free slots over the due portals instead of giving them to the first', () => {
    const slots = createSlots(8, 4);
    expect([...pass(slots, [1, 2, 3, 4]).values()].every((n) => n <= 2)).toBe(true);
    expect(slots.turns([1, 2, 3, 4, 5])[0]).toEqual({ account: 5, upTo: 1 }); // the one with nothing in flight first
  });

  it('leave a slot for a portal that just received an SMS while four others keep their gateways busy', () => {
    const slots = createSlots(8, 4);
    fill(slots, [1, 2, 3, 4]);
    expect(slots.free()).toBeGreaterThan(0);
    expect(slots.freeFor(5)).toBe(1);
    expect(slots.turns([1, 2, 3, 4, 5]).map((t) => t.account)).toEqual([5]);
  });

  it('give a freed slot to the portal with the fewest in flight, then to the one served least recently', () => {
    const slots = createSlots(32, 8);
    slots.take(1);
    slots.take(1);
    slots.take(2);
    slots.take(3);
    expect(slots.turns([1, 2, 3, 4]).map((t) => t.account)).toEqual([4, 2, 3, 1]); // 4 never served
    slots.release(2);
    slots.release(3);
    slots.take(3); // 3 served again: 2 now waited longest among those with one in flight or none
    slots.release(3);
    expect(slots.turns([1, 2, 3]).map((t) => t.account)).toEqual([2, 3, 1]);
  });

  it('shrink an account whose sends are too slow to one slot, until one of its sends is quick again', () => {
    const slots = createSlots(32, 8);
    slots.sendTook(1, true);
    expect(slots.freeFor(1)).toBe(1);
    slots.take(1);
    expect(slots.freeFor(1)).toBe(0);
    slots.release(1);
    slots.sendTook(1, false);
    expect(slots.freeFor(1)).toBe(8);
    expect(slots.freeFor(2)).toBe(8); // others were never limited
  });

  it('never let an account with work in flight take the reserve, nor one with none take more than one slot of it', () => {
    for (const [total, perAccount] of [[32, 8], [8, 4], [4, 2], [2, 1], [10, 10], [6, 1]] as const) {
      const random = prng(total * 100 + perAccount);
      const slots = createSlots(total, perAccount);
      const held: number[] = [];
      for (let step = 0; step < 2_000; step++) {
        const account = 1 + Math.floor(random() * 12);
        if (random() < 0.1) slots.sendTook(account, random() < 0.5);
        if (held.length && random() < 0.4) {
          slots.release(held.splice(Math.floor(random() * held.length), 1)[0]!);
          continue;
        }
        const idle = slots.inFlight(account) === 0;
        const free = slots.free();
        const n = slots.freeFor(account);
        if (idle && free > 0) expect(n).toBeGreaterThan(0); // a quiet portal always finds a slot
        expect(n).toBeLessThanOrEqual(Math.max(0, free - slots.reserve) + (idle ? Math.min(1, free) : 0));
        expect(slots.inFlight(account) + n).toBeLessThanOrEqual(slots.isSlow(account) ? Math.max(1, slots.inFlight(account)) : perAccount);
        for (let i = 0; i < n; i++) {
          slots.take(account);
          held.push(account);
        }
        expect(slots.free()).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('count one slot per request: an account whose gateway takes 100 messages per request sends a claim together', () => {
    const s = createSlots(8, 2);
    s.setWidth(1, 100);
    expect(s.freeFor(1)).toBe(200); // its 2 slots (GATEWAY_CONCURRENCY), 100 messages each
    s.take(1, 150); // one claim of 150: two requests
    expect(s.inFlight(1)).toBe(150);
    expect(s.free()).toBe(6);
    expect(s.freeFor(1)).toBe(0); // both of its requests are in flight: what comes due now waits and goes together
    expect(s.freeFor(2)).toBe(2); // another account is counted as before
    s.release(1, 150);
    expect(s.free()).toBe(8);
    s.take(1, 1); // under a trickle each claim is a request of its own, however small
    s.take(1, 1);
    expect(s.free()).toBe(6);
    expect(s.freeFor(1)).toBe(0);
    s.release(1, 1);
    expect(s.freeFor(1)).toBe(100);
  });

  it("a gateway that takes one message per request is counted so at once, while the old gateway's request of 100 is still out", () => {
    const s = createSlots(8, 2);
    s.setWidth(1, 100);
    const batch = s.take(1, 100); // one SMS.ru request of 100 messages
    expect(batch).toBe(1);
    s.setWidth(1, 1); // the portal moved to Kannel meanwhile
    expect(s.freeFor(1)).toBe(1); // one slot of its two is left: one message, not a hundred
    const one = s.take(1, 1);
    expect(s.freeFor(1)).toBe(0);
    expect(s.free()).toBe(6);
    expect(s.freeFor(2)).toBe(2); // the others' slots are theirs
    s.release(1, 100, batch); // the old request gives back the one slot it took
    s.release(1, 1, one);
    expect(s.free()).toBe(8);
    expect(s.inFlight(1)).toBe(0);
    expect(s.freeFor(1)).toBe(2);
  });
});
