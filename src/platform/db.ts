import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../migrations/index.js';
import type { Log } from './logger.js';

export type Db = Knex;

// Timestamps are stored as bigint epoch milliseconds on both databases; pg hands int8 back
// as a string unless told otherwise. Epoch ms fit comfortably in a double.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * A failed query's error names its SQL with placeholders, never its values: knex would write them into the message
 * (numbers, texts, tokens), and error messages are logged as they are.
 */
const compileSqlOnError = false;

/** `schema` (PostgreSQL only) isolates a database in one schema: tests use one per test file. */
export function knexConfig(databaseUrl: string, opts: { schema?: string } = {}): Knex.Config {
  const migrations = { migrationSource, tableName: 'knex_migrations' };
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    return { client: 'pg', connection: databaseUrl, searchPath: opts.schema ? [opts.schema] : undefined, pool: { min: 0, max: 10 }, migrations, compileSqlOnError };
  }
  return {
    client: 'better-sqlite3',
    compileSqlOnError,
    connection: { filename: databaseUrl },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma(s: string): unknown; prepare(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        cachePreparedStatements(conn);
        // WAL lets readers run beside the writer; busy_timeout waits instead of failing with SQLITE_BUSY.
        conn.pragma('journal_mode = WAL');
        conn.pragma('busy_timeout = 5000');
        conn.pragma('foreign_keys = ON');
        conn.pragma('synchronous = NORMAL');
        done(null, conn);
      },
    },
    migrations,
  };
}

/** How many distinct statements one SQLite connection keeps prepared (a whereIn of n ids is its own text per n). */
const STATEMENT_CACHE = 1000;

/**
 * knex's better-sqlite3 client prepares every query's SQL again (`connection.prepare(sql)` per call): a fifth of the
 * worker's CPU in the profile. The connection keeps what it prepared, by text, least recently used out first.
 * knex only runs statements to completion (`all`/`run`), never leaves one iterating, so one can be reused.
 */
function cachePreparedStatements(conn: { prepare(sql: string): unknown }) {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let s = cache.get(sql);
    if (s) cache.delete(sql); // re-inserted below: most recently used last
    else {
      s = prepare(sql);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, s);
    return s;
  };
}

/**
 * A new SQLite file (and any directory made for it) is this user's only: it holds every portal's tokens and
 * message texts. It is created here because knex opens it lazily; SQLite gives the -wal and -shm files the
 * database file's mode. An existing file keeps the mode the operator gave it.
 */
export function createDb(databaseUrl: string, opts: { schema?: string; log?: Log } = {}): Db {
  if (!/^postgres(ql)?:\/\//.test(databaseUrl) && databaseUrl !== ':memory:') {
    mkdirSync(dirname(databaseUrl), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(databaseUrl, '', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const { log } = opts;
  // knex writes its warnings (a failed connection, with its stack) to the console; through our log they are one line.
  const knexLog = log && {
    warn: (m: unknown) => log.warn({ message: String(m).split('\n')[0] }, 'db.warning'),
    error: (m: unknown) => log.error({ message: String(m).split('\n')[0] }, 'db.error'),
    deprecate: (m: unknown) => log.warn({ message: String(m) }, 'db.deprecated'),
    debug: (m: unknown) => log.debug({ message: String(m) }, 'db.debug'),
  };
  return knex({ ...knexConfig(databaseUrl, opts), ...(knexLog ? { log: knexLog } : {}) });
}

export async function migrate(db: Db): Promise<void> {
  await db.migrate.latest();
}

export const isPostgres = (db: Db) => db.client.config.client === 'pg';
