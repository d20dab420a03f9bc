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
  /** GSM-7 or UCS-2, as counted for every gateway (src/gateways/segments.ts); null before a worker counted it. */
  encoding: string | null;
  state: MessageState;
  reason: string | null;
  isTest: boolean;
  /** The gateway that took it (null before one did): the log marks the sandbox's, which were not really sent. */
  gateway: string | null;
}

/** How far back the log's pages reach within a date range (the export reaches further). */
export const LOG_WINDOW = 10_000;

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
    encoding: (r.encoding as string | null) ?? null,
    state: r.state as MessageState,
    reason: (r.failure_reason as string | null) ?? (r.state === 'undelivered' || r.state === 'failed' ? (r.gateway_status_text as string | null) : null),
    isTest: Boolean(r.is_test),
    gateway: (r.gateway as string | null) ?? null,
  });
  const columns = ['id', 'created_at', 'phone', 'message_to', 'sender', 'segments', 'encoding', 'state', 'failure_reason', 'gateway_status_text', 'is_test', 'gateway'];

  /**
   * One page of the newest LOG_WINDOW messages in the date range. Every query walks the (portal_id, created_at)
   * index from the newest end and touches at most the window, so a portal with a huge log (or a user paging to
   * its end) never holds SQLite's single connection for long. Older messages: narrow the dates, or export.
   */
  async function page(portalId: number, f: LogFilter, pageNo: number, pageSize: number): Promise<{ entries: LogEntry[]; total: number; windowed: boolean }> {
    const dated = { from: f.from, to: f.to };
    const edge = await query(portalId, dated).orderBy('created_at', 'desc').offset(LOG_WINDOW - 1).first('created_at');
    const windowed = () => {
      const q = query(portalId, f);
      if (edge) q.andWhere('created_at', '>=', Number(edge.created_at));
      return q;
    };
    const counted = await windowed().count<{ n: number | string }[]>({ n: '*' });
    const total = Number(counted[0]?.n ?? 0);
    const last = Math.max(1, Math.ceil(total / pageSize));
    const rows = await windowed()
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
      .offset((Math.min(pageNo, last) - 1) * pageSize)
      .limit(pageSize)
      .select(columns);
    return { entries: rows.map(toEntry), total, windowed: edge !== undefined };
  }

  /**
   * Every entry of the range, newest first, a page at a time (keyset on created_at, id): each page is one short
   * query, so a long export neither holds SQLite's single connection nor the whole log in memory while a slow client
   * reads. No cap: the log's pages send users to the export for what they do not reach, so it must hold it all.
   * `created_at <= cursor` comes first on its own: it lets each page start at the cursor in the (portal_id,
   * created_at) index, where the OR alone made every page walk the index again from the newest row.
   */
  async function* each(portalId: number, f: LogFilter, opts: { pageSize?: number } = {}): AsyncGenerator<LogEntry[]> {
    const pageSize = opts.pageSize ?? 500;
    let after: LogEntry | undefined;
    for (;;) {
      const q = query(portalId, f)
        .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])
        .limit(pageSize)
        .select(columns);
      const cursor = after;
      if (cursor) q.andWhere('created_at', '<=', cursor.createdAt).andWhere((w) => w.where('created_at', '<', cursor.createdAt).orWhere('id', '<', cursor.id));
      const rows = (await q).map(toEntry);
      if (!rows.length) return;
      yield rows;
      after = rows[rows.length - 1];
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
