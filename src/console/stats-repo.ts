import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const num = (v: unknown) => Number(v ?? 0);
type Final = 'delivered' | 'undelivered' | 'failed';

/** What the operator console shows: per-portal figures, queue health, messages per hour. */
export function createStatsRepo(db: Db) {
  // The figures read recent rows by their time indexes (created_at, final_at). SQLite, which has no statistics unless
  // ANALYZE ran, would rather walk the whole (state, portal_id, …) or (portal_id, created_at) index to avoid sorting
  // its groups, and 90 % of a big table is in a final state: 530 ms with 1,000,000 rows. A unary + keeps a term off
  // the indexes (sqlite.org/optoverview.html, "Disqualifying WHERE clause terms"), in WHERE and in GROUP BY alike.
  // PostgreSQL's planner has its statistics and gets the plain columns.
  const pg = isPostgres(db);
  const off = (col: string) => (pg ? col : `+${col}`);
  const finalStates = (q: ReturnType<Db>) => q.whereRaw(`${off('state')} IN ('delivered', 'undelivered', 'failed')`);
  async function portalFigures(now: number) {
    const dayStart = now - (now % DAY);
    const today: Array<{ portal_id: number; n: number | string }> = await db('messages')
      .where('created_at', '>=', dayStart)
      .groupByRaw(off('portal_id'))
      .select('portal_id')
      .count({ n: '*' });
    const finals: Array<{ portal_id: number; state: string; n: number | string }> = await db('messages')
      .where('created_at', '>=', now - 7 * DAY)
      .where(finalStates)
      .groupByRaw(`${off('portal_id')}, ${off('state')}`)
      .select('portal_id', 'state')
      .count({ n: '*' });
    // One seek per portal down its (portal_id, id) entries that have a reason: a max(id) grouped by portal read every
    // such row ever stored (58 ms with 1,000,000 old failed messages).
    const lastErrors: Array<{ portal_id: number; failure_reason: string | null }> = await db('portals').select({ portal_id: 'portals.id' }).select(
      db('messages').select('failure_reason').whereRaw('messages.portal_id = portals.id').whereNotNull('failure_reason')
        .orderBy('messages.id', 'desc').limit(1).as('failure_reason'),
    );

    const out = new Map<number, { today: number; deliveryRate: number | null; lastError: string | null }>();
    const get = (id: number) => out.get(id) ?? out.set(id, { today: 0, deliveryRate: null, lastError: null }).get(id)!;
    for (const r of today) get(num(r.portal_id)).today = num(r.n);
    const rates = new Map<number, { delivered: number; total: number }>();
    for (const r of finals) {
      const b = rates.get(num(r.portal_id)) ?? { delivered: 0, total: 0 };
      b.total += num(r.n);
      if (r.state === 'delivered') b.delivered += num(r.n);
      rates.set(num(r.portal_id), b);
    }
    for (const [id, b] of rates) get(id).deliveryRate = b.total ? b.delivered / b.total : null;
    for (const r of lastErrors) if (r.failure_reason !== null) get(num(r.portal_id)).lastError = r.failure_reason;
    return out;
  }

  async function queueHealth(now: number) {
    const byState: Array<{ state: string; n: number | string }> = await db('messages')
      .whereIn('state', ['queued', 'sending', 'sent'])
      .groupBy('state')
      .select('state')
      .count({ n: '*' });
    const count = (s: string) => num(byState.find((r) => r.state === s)?.n);
    // Through the partial indexes on the queued rows (a literal, which both databases match to their predicate).
    const oldest = await db('messages').whereRaw("state = 'queued'").min({ t: 'created_at' }).first();
    const retrying = await db('messages').whereRaw("state = 'queued'").andWhere('attempts', '>', 0).count({ n: '*' }).first();
    // Failed in the last 24 hours: by final_at (when it failed), which nothing changes later.
    const failures = (await db('messages')
      .whereRaw(`${off('state')} = 'failed'`)
      .andWhere('final_at', '>=', now - DAY)
      .groupBy('failure_reason')
      .select({ reason: 'failure_reason' })
      .count({ n: '*' })
      .orderBy('n', 'desc')
      .limit(10)) as unknown as Array<{ reason: string | null; n: number | string }>;
    return {
      queued: count('queued'),
      sending: count('sending'),
      sent: count('sent'),
      oldestQueuedAgeMs: oldest?.t ? now - num(oldest.t) : null,
      retrying: num(retrying?.n),
      failures: failures.map((f) => ({ reason: f.reason ?? '(none)', n: num(f.n) })),
    };
  }

  /** Messages per hour by final status over the last `hours` hours, oldest first. */
  async function hourly(now: number, hours = 168) {
    const start = Math.floor(now / HOUR) * HOUR - (hours - 1) * HOUR;
    // Hour buckets in SQL; the cast makes it integer division on SQLite too, where bound numbers may be REAL.
    const rows = (await db('messages')
      .where(finalStates)
      .andWhere('final_at', '>=', start)
      .select(db.raw('cast((final_at - ?) / ? as integer) as h', [start, HOUR]), 'state')
      .count({ n: '*' })
      // By position: PostgreSQL would not match a repeated expression whose parameters get new placeholders.
      .groupByRaw('1, 2')) as unknown as Array<{ h: number | string; state: string; n: number | string }>;
    const series = Array.from({ length: hours }, (_, i) => ({ at: start + i * HOUR, delivered: 0, undelivered: 0, failed: 0 }));
    for (const r of rows) {
      const slot = series[num(r.h)];
      if (slot) slot[r.state as Final] += num(r.n);
    }
    return series;
  }

  return { portalFigures, queueHealth, hourly };
}

export type StatsRepo = ReturnType<typeof createStatsRepo>;
