import type { Db } from './db.js';

export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  transaction<F extends (...a: never[]) => unknown>(fn: F): F;
}

/**
 * A transaction on SQLite that runs start to end without giving up the event loop: knex's own transactions await
 * between statements, so in a busy process the write lock stayed held across other work and the other process's
 * intake waited on it (4–18 ms blocked writes seen under the bench's load). Statements are prepared once per
 * connection, by their text. Only for SQLite: PostgreSQL transactions are served by knex.
 */
export function createSyncTransactions(db: Db) {
  const client = db.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const prepared = new WeakMap<object, Map<string, SqliteStatement>>();

  return async function inTransaction<T>(fn: (sql: (text: string) => SqliteStatement) => T): Promise<T> {
    const conn = (await client.acquireConnection()) as SqliteConnection;
    try {
      let cache = prepared.get(conn);
      if (!cache) prepared.set(conn, (cache = new Map()));
      const sql = (text: string) => {
        let s = cache!.get(text);
        if (!s) cache!.set(text, (s = conn.prepare(text)));
        return s;
      };
      return conn.transaction(() => fn(sql))();
    } finally {
      await client.releaseConnection(conn);
    }
  };
}

export type SyncTransactions = ReturnType<typeof createSyncTransactions>;
