import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Log } from './logger.js';

/**
 * SECRET_KEY when configured; otherwise one generated once and kept in data/secret.key.
 * Losing that file makes every stored secret unreadable, hence the warning.
 */
export function resolveSecretKey(configured: string | undefined, file: string, log: Log): string {
  if (configured) return configured;
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, key + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  log.warn({ file }, 'config.secret_key.generated');
  return key;
}
