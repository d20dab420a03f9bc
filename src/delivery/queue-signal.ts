import type { Db } from '../platform/db.js';
import { isPostgres } from '../platform/db.js';
import type { Log } from '../platform/logger.js';

const CHANNEL = 'sms_queued';

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
  let conn: PgConnection | undefined;
  let stopped = false;

  /**
   * Fire and forget: the handler's answer never waits for it. One NOTIFY per turn of the event loop however many
   * messages it stored (it was a round trip per message, competing with the inserts for the pool's connections).
   */
  let pending = false;
  function notify() {
    if (!pg || pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      db.raw('select pg_notify(?, ?)', [CHANNEL, '']).catch((err) => log.warn({ err: String(err) }, 'queue.notify.failed'));
    });
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
      await c.query(`LISTEN ${CHANNEL}`);
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
