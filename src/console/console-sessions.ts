import type { Db } from '../platform/db.js';

/**
 * Console sessions ended by "Sign out". The session cookie is signed and stateless; a copy of it (a shared machine, a
 * proxy's log) would otherwise stay good until it expires. Kept in the database, so that a sign-out in one web process
 * holds in all of them; rows go once the session would have expired anyway.
 */
export function createConsoleSessions(db: Db) {
  return {
    async end(sessionId: string, until: number, now: number): Promise<void> {
      await db('console_logouts').insert({ session_id: sessionId, until }).onConflict('session_id').ignore();
      await db('console_logouts').where('until', '<', now).delete();
    },
    async ended(sessionId: string): Promise<boolean> {
      return (await db('console_logouts').where({ session_id: sessionId }).first('session_id')) !== undefined;
    },
  };
}

export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
