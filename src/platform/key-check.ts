import type { Db } from './db.js';
import type { Crypto } from './crypto.js';

const NAME = 'secret_key_check';
const PLAIN = 'this database is sealed with this key';

/**
 * Whether this process's SECRET_KEY is the one the database's secrets were sealed with: the first process to start
 * on a database seals a known value with its key; every later one must open it. False means another key, e.g. a
 * second machine that generated its own data/secret.key.
 */
export async function sameSecretKey(db: Db, crypto: Crypto, now: number): Promise<boolean> {
  await db('deployment_facts').insert({ name: NAME, value: crypto.encrypt(PLAIN), created_at: now }).onConflict('name').ignore();
  const row = await db('deployment_facts').where({ name: NAME }).first('value');
  try {
    return crypto.decrypt(String(row?.value)) === PLAIN;
  } catch {
    return false;
  }
}
