import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import type { Log } from '../platform/logger.js';

/** At most one NOTIFY per this many milliseconds per process: a woken worker claims everything due anyway. */
export const NOTIFY_COALESCE_MS = 20;

interface PgConnection {
  query(sql: string): Promise<unknown>;
  on(event: 'notification' | 'error' | 'end', cb: (...args: unknown[]) => void): void;
  end(): Promise<void>;
}

/**
 * Wakes send workers in other processes (`npm run worker`) the moment intake stores a message, on
 * PostgreSQL (LISTEN/NOTIFY). In one process the worker is kicked directly; SQLite has no such channel,
 * and separate workers there fall back to polling every WORKER_POLL.
 */
export function createQueueSignal(db: Db, log: Log) {
  const pg = isPostgres(db);
  // Channels are per database, not per schema: deployments that share a database in schemas of their own
  // (DATABASE_SCHEMA) do not wake each other's workers. A channel name is at most 63 bytes.
  const schema = (db.client.config as { searchPath?: string | string[] }).searchPath;
  const channel = `sms_queued${schema ? `_${[schema].flat()[0]}` : ''}`.slice(0, 63);
  let conn: PgConnection | undefined;
  let stopped = false;

  /**
   * Fire and forget: the handler's answer never waits for it. One NOTIFY per NOTIFY_COALESCE_MS however many
   * messages were stored meanwhile: one per turn of the event loop was a commit every few requests under load
   * (two web processes: 3,550 against 3,850 req/s without any).
   */
  let pending = false;
  function notify() {
    if (!pg || pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      db.raw('select pg_notify(?, ?)', [channel, '']).catch((err) => log.warn({ err: String(err) }, 'queue.notify.failed'));
    }, NOTIFY_COALESCE_MS);
  }

  /** A dedicated connection outside the pool listens; it reconnects after a drop. */
  async function listen(onSignal: () => void): Promise<void> {
    if (!pg || stopped) return;
    try {
      const c = (await (db.client as { acquireRawConnection(): Promise<PgConnection> }).acquireRawConnection()) as PgConnection;
      conn = c;
      c.on('notification', () => onSignal());
      const retry = () => {
        if (conn === c && !stopped) setTimeout(() => void listen(onSignal), 1000).unref();
      };
      c.on('error', (err) => {
        log.warn({ err: String(err) }, 'queue.listen.lost');
        retry();
      });
      c.on('end', retry);
      await c.query(`LISTEN "${channel}"`); // a plain name: sms_queued and DATABASE_SCHEMA's [a-z0-9_]
      onSignal(); // anything queued while we were not listening
    } catch (err) {
      log.warn({ err: String(err) }, 'queue.listen.failed');
      if (!stopped) setTimeout(() => void listen(onSignal), 1000).unref();
    }
  }

  async function close() {
    stopped = true;
    const c = conn;
    conn = undefined;
    await c?.end().catch(() => {});
  }

  return { notify, listen, close };
}

export type QueueSignal = ReturnType<typeof createQueueSignal>;
