import type { Db } from './db.js';
import type { Crypto } from './crypto.js';

/**
 * Facts about the deployment as a whole (deployment_facts), each written once by the first process that needs it and
 * read by every other: on any number of processes and machines, all see the first one's value.
 */
export function deploymentFacts(db: Db) {
  async function getOrSet(name: string, value: string, now: number): Promise<string> {
    await db('deployment_facts').insert({ name, value, created_at: now }).onConflict('name').ignore();
    return String((await db('deployment_facts').where({ name }).first('value'))?.value);
  }
  return { getOrSet };
}
export type DeploymentFacts = ReturnType<typeof deploymentFacts>;

const PLAIN = 'this database is sealed with this key';

/**
 * Whether this process's SECRET_KEY is the one the database's secrets were sealed with: the first process to start
 * on a database seals a known value with its key; every later one must open it. False means another key, e.g. a
 * second machine that generated its own data/secret.key.
 */
export async function sameSecretKey(db: Db, crypto: Crypto, now: number): Promise<boolean> {
  const sealed = await deploymentFacts(db).getOrSet('secret_key_check', crypto.encrypt(PLAIN), now);
  try {
    return crypto.decrypt(sealed) === PLAIN;
  } catch {
    return false;
  }
}
