import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import { appUninstalled } from '../portals/portal-repo.js';

/** A queued message as intake stores it (rejected ones take message-repo's transactional way with their report). */
export interface QueuedRow {
  portalId: number;
  b24MessageId: string;
  code: string;
  moduleId: string | null;
  origin: string | null;
  messageTo: string;
  phone: string;
  body: string;
  isTest: boolean;
  /** auth[user_id] of the handler call: whose token may report the message's status besides an administrator's. */
  authorId: number | null;
  now: number;
}

const COLUMNS = 'portal_id, b24_message_id, code, module_id, origin, message_to, phone, body, state, is_test, author_id, next_attempt_at, created_at, updated_at';

interface SqliteStatement { get(...params: unknown[]): Record<string, unknown> | undefined }
type SqliteTransaction<F> = F & { immediate: F };
interface SqliteConnection { prepare(sql: string): SqliteStatement; transaction<F extends (...a: never[]) => unknown>(fn: F): SqliteTransaction<F>; pragma(s: string): unknown }
interface PgConnection { query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: { id: string | number | null; portal_id: string | number; b24_message_id: string | null }[] }> }

/** A row not written because its portal was uninstalled by the time it was (see stillInstalled in portal-repo). */
const GONE = Symbol('portal uninstalled');
type Written = number | undefined | typeof GONE;

/**
 * The handler's one write, group-committed: every message that arrives while a commit is being written goes into
 * the next one, so a burst of N requests costs a handful of commits, not N. Each caller is answered only after the
 * transaction holding its row committed. Statements are prepared once per connection (SQLite) or named and
 * prepared by the server once per connection (PostgreSQL); knex is not on this path.
 */
export function createIntakeWriter(db: Db, opts: { maxBatch?: number } = {}) {
  const maxBatch = opts.maxBatch ?? 256;
  const pg = isPostgres(db);
  type Pending = { row: QueuedRow; resolve: (id: number | undefined) => void; reject: (err: unknown) => void };
  let pending: Pending[] = [];
  let flushing = false;
  const prepared = new WeakMap<object, { batch: SqliteTransaction<(rows: QueuedRow[]) => Written[]>; failFast: SqliteStatement; waitAgain: SqliteStatement }>();
  const client = db.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };

  /**
   * Stores one queued message; undefined when (portal, Bitrix24 message id) was stored before. Refused (401, nothing
   * stored) when the portal was uninstalled before the row could be committed.
   */
  function insert(row: QueuedRow): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      pending.push({ row, resolve, reject });
      if (!flushing) {
        flushing = true;
        setImmediate(flush); // requests parsed in this turn of the event loop join the same commit
      }
    });
  }

  async function flush() {
    while (pending.length) {
      const batch = pending.slice(0, maxBatch);
      pending = pending.slice(batch.length);
      try {
        const ids = await write(batch.map((p) => p.row));
        batch.forEach((p, i) => settle(p, ids[i]));
      } catch (err) {
        // One bad row must not fail its neighbours: each is written alone, and only what fails alone is refused.
        if (batch.length === 1) batch[0]!.reject(err);
        else for (const p of batch) await write([p.row]).then((ids) => settle(p, ids[0]), p.reject);
      }
    }
    flushing = false;
  }

  function settle(p: Pending, written: Written) {
    if (written === GONE) p.reject(appUninstalled());
    else p.resolve(written);
  }

  async function write(rows: QueuedRow[]): Promise<Written[]> {
    const giveUpAt = performance.now() + 5000; // as the connection's busy_timeout
    for (;;) {
      const conn = await client.acquireConnection();
      try {
        if (pg) return await writePg(conn as PgConnection, rows);
        return writeSqlite(conn as SqliteConnection, rows);
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() > giveUpAt) throw err;
      } finally {
        await client.releaseConnection(conn);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /**
   * Another process (the background worker) holds the write lock: SQLite's own busy handler would sleep with the
   * event loop blocked, holding every other request of this process; instead the write fails at once and is
   * tried again a millisecond later, while the event loop goes on (and more rows join the batch).
   */
  function writeSqlite(conn: SqliteConnection, rows: QueuedRow[]) {
    const s = sqliteStatements(conn);
    s.failFast.get();
    try {
      return s.batch.immediate(rows);
    } finally {
      s.waitAgain.get();
    }
  }

  function sqliteStatements(conn: SqliteConnection) {
    let s = prepared.get(conn);
    if (!s) {
      const insertStmt = conn.prepare(
        `INSERT INTO messages (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) ON CONFLICT (portal_id, b24_message_id) DO NOTHING RETURNING id`,
      );
      const statusStmt = conn.prepare('SELECT status FROM portals WHERE id = ?');
      // Run as BEGIN IMMEDIATE: the portals are read under the write lock, so an uninstall committed either before
      // (its portal's rows are not written) or after (its erase sees them).
      const batch = conn.transaction((rows: QueuedRow[]): Written[] => {
        const installed = new Map<number, boolean>();
        return rows.map((r) => {
          let ok = installed.get(r.portalId);
          if (ok === undefined) installed.set(r.portalId, (ok = isInstalled(statusStmt.get(r.portalId)?.status)));
          if (!ok) return GONE;
          return insertStmt.get(r.portalId, r.b24MessageId, r.code, r.moduleId, r.origin, r.messageTo, r.phone, r.body, r.isTest ? 1 : 0, r.authorId, r.now, r.now, r.now)?.id as number | undefined;
        });
      });
      // Prepared once: db.pragma() prepares its statement on every call (2 % of the web process's time).
      s = { batch, failFast: conn.prepare('PRAGMA busy_timeout = 0'), waitAgain: conn.prepare('PRAGMA busy_timeout = 5000') };
      prepared.set(conn, s);
    }
    return s;
  }

  /**
   * One statement for the whole batch (atomic by itself): the rows travel as arrays. A key twice in one batch (the
   * same message delivered twice within milliseconds) is stored once; the second caller hears "duplicate". The
   * batch's portals are share-locked first and only installed ones' rows written: an uninstall either committed
   * before (its rows are not written) or waits for this statement (and its erase sees them).
   */
  async function writePg(conn: PgConnection, rows: QueuedRow[]): Promise<Written[]> {
    const keyOf = (portalId: number | string, b24Id: string) => `${portalId}\u0000${b24Id}`;
    const first = new Map<string, number>();
    rows.forEach((r, i) => first.has(keyOf(r.portalId, r.b24MessageId)) || first.set(keyOf(r.portalId, r.b24MessageId), i));
    const unique = rows.filter((r, i) => first.get(keyOf(r.portalId, r.b24MessageId)) === i);
    const col = <T>(f: (r: QueuedRow) => T) => unique.map(f);
    const res = await conn.query({
      name: 'intake_insert_v3',
      text: `WITH live AS (SELECT id FROM portals WHERE id = ANY($12::int[]) AND status <> 'uninstalled' FOR SHARE),
                  ins AS (INSERT INTO messages (${COLUMNS})
                          SELECT p, b, c, m, o, t, ph, bo, 'queued', te, a, n, n, n
                            FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::int[], $11::bigint[])
                              AS x(p, b, c, m, o, t, ph, bo, te, a, n)
                           WHERE p IN (SELECT id FROM live)
                          ON CONFLICT (portal_id, b24_message_id) DO NOTHING RETURNING id, portal_id, b24_message_id)
             SELECT id, portal_id, b24_message_id FROM ins UNION ALL SELECT NULL, id, NULL FROM live`,
      values: [
        col((r) => r.portalId), col((r) => r.b24MessageId), col((r) => r.code), col((r) => r.moduleId), col((r) => r.origin),
        col((r) => r.messageTo), col((r) => r.phone), col((r) => r.body), col((r) => r.isTest), col((r) => r.authorId), col((r) => r.now),
        [...new Set(unique.map((r) => r.portalId))],
      ],
    });
    const live = new Set<number>();
    const ids = new Map<string, number>();
    for (const r of res.rows) {
      if (r.id === null) live.add(Number(r.portal_id));
      else ids.set(keyOf(Number(r.portal_id), r.b24_message_id!), Number(r.id));
    }
    return rows.map((r, i) => {
      if (!live.has(r.portalId)) return GONE;
      return first.get(keyOf(r.portalId, r.b24MessageId)) === i ? ids.get(keyOf(r.portalId, r.b24MessageId)) : undefined;
    });
  }

  return { insert };
}

const isInstalled = (status: unknown) => status !== undefined && status !== 'uninstalled';

export type IntakeWriter = ReturnType<typeof createIntakeWriter>;
