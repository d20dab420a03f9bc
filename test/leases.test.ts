import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLeases } from '../src/platform/leases.js';
import { createTestDb } from './helpers/db.js';

let t: Awaited<ReturnType<typeof createTestDb>>;
beforeEach(async () => {
  t = await createTestDb();
});
afterEach(() => t.drop());

describe('job leases shared through the database', () => {
  it('one process holds a lease at a time; one whose lease ran out can neither extend nor end the next holder\'s', async () => {
    // Three processes: each its own leases over one database; times are given, not read off a clock.
    const [a, b, c] = [createLeases(t.db), createLeases(t.db), createLeases(t.db)];
    const held = await a.take('statuses:1', 0, 100);
    expect(held).toBeDefined();
    expect(await b.take('statuses:1', 50, 100)).toBeUndefined();
    expect(await held!.renew(90, 100)).toBe(true); // until 190
    expect(await b.take('statuses:1', 150, 100)).toBeUndefined();

    // A stalls past its lease; B takes the portal over.
    const taken = await b.take('statuses:1', 200, 100);
    expect(taken).toBeDefined();
    expect(await held!.renew(210, 1000)).toBe(false); // A learns it lost the lease, and B's stays as it was
    await held!.release(220);
    expect(await c.take('statuses:1', 250, 100)).toBeUndefined(); // B still holds it until 300
    expect(await c.take('statuses:1', 300, 100)).toBeDefined();

    // Given back by its holder, a lease is free at once; other names are other leases.
    expect(await b.take('statuses:2', 300, 100)).toBeDefined();
    const next = await a.take('statuses:3', 300, 100);
    await next!.release(310);
    expect(await c.take('statuses:3', 310, 100)).toBeDefined();
  });
});
