import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from './config.js';
import type { Log } from './logger.js';

const MIN_LENGTH = 32; // as for SECRET_KEY in config.ts

/**
 * SECRET_KEY when configured; otherwise one generated once and kept in data/secret.key.
 * Losing that file makes every stored secret unreadable, hence the warning. A file too short to be a key
 * (empty after a crash, truncated by hand) stops start-up rather than sign and encrypt with it.
 */
export function resolveSecretKey(configured: string | undefined, file: string, log: Log): string {
  if (configured) return configured;
  if (!existsSync(file)) generate(file, log);
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < MIN_LENGTH) {
    throw new ConfigError(
      `Invalid configuration:\n  ${file}: holds ${key.length} characters, a key needs at least ${MIN_LENGTH}. ` +
        'Restore the key this service was started with (stored tokens and gateway keys depend on it), or set SECRET_KEY.',
    );
  }
  return key;
}

function generate(file: string, log: Log) {
  // A directory created here is this user's only (0700); an existing one is the operator's choice.
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written aside and linked into place: a web and a worker process starting together never see a half-written
  // file, and the second keeps the first one's key instead of overwriting it.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, file);
    log.warn({ file }, 'config.secret_key.generated');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}
