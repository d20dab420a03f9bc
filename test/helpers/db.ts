import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, migrate, type Db } from '../../src/platform/db.js';

/**
 * A real database migrated by the production migrations: a temporary SQLite file, or, when
 * TEST_DATABASE_URL is set (CI's second run), a fresh PostgreSQL schema dropped afterwards.
 */
export async function createTestDb(): Promise<{ db: Db; url: string; schema?: string; drop: () => Promise<void> }> {
  const pgUrl = process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const db = createDb(pgUrl, { schema });
    await db.raw('create schema ??', [schema]);
    await migrate(db);
    return {
      db, url: pgUrl, schema,
      drop: async () => {
        await db.raw('drop schema ?? cascade', [schema]);
        await db.destroy();
      },
    };
  }
  const file = join(tmpdir(), `b24sms-${randomBytes(6).toString('hex')}.sqlite`);
  const db = createDb(file);
  await migrate(db);
  return {
    db, url: file,
    drop: async () => {
      await db.destroy();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    },
  };
}
