import type { Db } from './db.js';

/**
 * Named leases shared by every process on the database: `take` succeeds for one taker until the lease ends or is
 * given back. A taker that dies holds it at most `ttlMs`. Wall-clock times: the machines' clocks must agree.
 */
export function createLeases(db: Db) {
  /** True when this caller now holds `name` until `now + ttlMs`. */
  async function take(name: string, now: number, ttlMs: number): Promise<boolean> {
    const res = await db.raw(
      `INSERT INTO job_leases (name, until) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET until = ? WHERE job_leases.until <= ?
       RETURNING until`,
      [name, now + ttlMs, now + ttlMs, now],
    );
    const rows = (Array.isArray(res) ? res : res.rows) as unknown[];
    return rows.length === 1;
  }

  /** The holder is still at work: its lease runs `ttlMs` from now again. */
  async function renew(name: string, now: number, ttlMs: number): Promise<void> {
    await db('job_leases').where({ name }).update({ until: now + ttlMs });
  }

  /** Gives `name` back early (the holder finished), so the next run anywhere may take it at once. */
  async function release(name: string, now: number): Promise<void> {
    await db('job_leases').where({ name }).update({ until: now });
  }

  return { take, renew, release };
}

export type Leases = ReturnType<typeof createLeases>;
