import type { Db } from '../platform/db.js';
import type { MessageState } from './states.js';

export interface LogFilter {
  status?: MessageState;
  from?: number; // epoch ms, inclusive
  to?: number; // epoch ms, exclusive
}

export interface LogEntry {
  id: number;
  createdAt: number;
  to: string;
  sender: string | null;
  segments: number | null;
  state: MessageState;
  reason: string | null;
  isTest: boolean;
}

/** A portal's message log: filtered, paged, newest first. */
export function createLogRepo(db: Db) {
  const query = (portalId: number, f: LogFilter) => {
    const q = db('messages').where({ portal_id: portalId });
    if (f.status) q.andWhere({ state: f.status });
    if (f.from !== undefined) q.andWhere('created_at', '>=', f.from);
    if (f.to !== undefined) q.andWhere('created_at', '<', f.to);
    return q;
  };
  const toEntry = (r: Record<string, unknown>): LogEntry => ({
    id: Number(r.id),
    createdAt: Number(r.created_at),
    to: String(r.phone ?? r.message_to ?? ''),
    sender: (r.sender as string | null) ?? null,
    segments: r.segments === null ? null : Number(r.segments),
    state: r.state as MessageState,
    reason: (r.failure_reason as string | null) ?? (r.state === 'undelivered' || r.state === 'failed' ? (r.gateway_status_text as string | null) : null),
    isTest: Boolean(r.is_test),
  });
  const columns = ['id', 'created_at', 'phone', 'message_to', 'sender', 'segments', 'state', 'failure_reason', 'gateway_status_text', 'is_test'];

  async function page(portalId: number, f: LogFilter, pageNo: number, pageSize: number): Promise<{ entries: LogEntry[]; total: number }> {
    const counted = await query(portalId, f).count<{ n: number | string }[]>({ n: '*' });
    const n = counted[0]?.n ?? 0;
    const rows = await query(portalId, f).orderBy('id', 'desc').offset((pageNo - 1) * pageSize).limit(pageSize).select(columns);
    return { entries: rows.map(toEntry), total: Number(n) };
  }

  /**
   * Every entry, newest first, a page at a time: each page is one short query, so a long export neither holds
   * SQLite's single connection nor the whole log in memory while a slow client reads.
   */
  async function* each(portalId: number, f: LogFilter, opts: { pageSize?: number; limit?: number } = {}): AsyncGenerator<LogEntry[]> {
    const pageSize = opts.pageSize ?? 500;
    let left = opts.limit ?? 100_000;
    let before: number | undefined;
    while (left > 0) {
      const q = query(portalId, f).orderBy('id', 'desc').limit(Math.min(pageSize, left)).select(columns);
      if (before !== undefined) q.andWhere('id', '<', before);
      const rows = (await q).map(toEntry);
      if (!rows.length) return;
      yield rows;
      left -= rows.length;
      before = rows[rows.length - 1]!.id;
      if (rows.length < pageSize) return;
    }
  }

  async function byId(portalId: number, id: number): Promise<LogEntry | undefined> {
    const r = await db('messages').where({ portal_id: portalId, id }).first(columns);
    return r && toEntry(r);
  }

  return { page, each, byId };
}

export type LogRepo = ReturnType<typeof createLogRepo>;

/** Recipients in the log: all but the last 4 digits masked. */
export function maskRecipient(to: string): string {
  const digits = to.replace(/\D/g, '');
  if (digits.length <= 4) return to ? '••••' : '';
  return `${to.startsWith('+') ? '+' : ''}${'•'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}
