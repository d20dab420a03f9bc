import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';

/** A lease this process holds: only it renews or gives back, and only while no other process took it since. */
export interface Lease {
  /** The holder is still at work: the lease runs `ttlMs` from now again. False when it ran out and another took it. */
  renew(now: number, ttlMs: number): Promise<boolean>;
  /**
   * Gives it back early (the holder finished), so the next run anywhere may take it at once; `mark`, when given, is
   * how far the holder got, for the next holder.
   */
  release(now: number, mark?: number): Promise<void>;
  /** How far the last holder got (its `release` mark), if it said. */
  readonly mark: number | null;
}

/**
 * Named leases shared by every process on the database: `take` succeeds for one taker until the lease ends or is
 * given back. A taker that dies holds it at most `ttlMs`. Wall-clock times: the machines' clocks must agree.
 */
export function createLeases(db: Db) {
  /** The lease on `name` until `now + ttlMs` when this caller took it; undefined while another holds it. */
  async function take(name: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    const holder = randomBytes(12).toString('hex');
    const res = await db.raw(
      `INSERT INTO job_leases (name, until, holder) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET until = excluded.until, holder = excluded.holder WHERE job_leases.until <= ?
       RETURNING until, mark`,
      [name, now + ttlMs, holder, now],
    );
    const rows = (Array.isArray(res) ? res : res.rows) as Array<{ mark: number | string | null }>;
    if (rows.length !== 1) return undefined;
    const mine = () => db('job_leases').where({ name, holder });
    return {
      mark: rows[0]!.mark === null || rows[0]!.mark === undefined ? null : Number(rows[0]!.mark),
      renew: async (at, ttl) => (await mine().update({ until: at + ttl })) === 1,
      release: async (at, mark) => void (await mine().update({ until: at, ...(mark === undefined ? {} : { mark }) })),
    };
  }

  return { take };
}

export type Leases = ReturnType<typeof createLeases>;
