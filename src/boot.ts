import { ConfigError, configWarnings, loadConfig, withoutPassword, type Config } from './platform/config.js';
import { createLogger, flushStdout, stdoutDestination, type Log } from './platform/logger.js';
import { resolveSecretKey } from './platform/secret-key.js';
import { createDb, migrate, type Db } from './platform/db.js';
import { buildDeps } from './deps.js';
import { createCrypto } from './platform/crypto.js';
import { sameSecretKey } from './platform/deployment-facts.js';

/** Shared start-up of the entry points: config (or exit with the reason), logger, secret key, migrated database. */
export async function boot(): Promise<{ config: Config; log: Log; deps: ReturnType<typeof buildDeps> }> {
  let config: Config;
  let log: Log;
  let secretKey: string;
  try {
    config = loadConfig();
    log = createLogger(config.LOG_LEVEL, stdoutDestination());
    if (!config.B24_CLIENT_ID || !config.B24_CLIENT_SECRET) {
      log.warn('config.b24_client.missing: B24_CLIENT_ID / B24_CLIENT_SECRET are not set; installs will be refused');
    }
    for (const warning of configWarnings(config)) log.warn({ warning }, 'config.risky');
    secretKey = resolveSecretKey(config.SECRET_KEY, 'data/secret.key', log);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  let db: Db;
  try {
    db = createDb(config.DATABASE_URL, { schema: config.DATABASE_SCHEMA, log });
    await migrate(db);
  } catch (err) {
    // A refused connection, a wrong password, an unwritable file: the setting to look at, not a stack trace.
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^/?#]*)@/i.exec(config.DATABASE_URL)?.[1];
    const reason = errorText(err);
    return startupFailed(`DATABASE_URL (${withoutPassword(config.DATABASE_URL)}): cannot open or migrate the database: ${password ? reason.replaceAll(password, '***') : reason}`);
  }
  if (!(await sameSecretKey(db, createCrypto(secretKey), Date.now()))) {
    return startupFailed(
      `SECRET_KEY${config.SECRET_KEY ? '' : ' (generated into data/secret.key)'}: not the key this database's secrets were sealed with. ` +
        'Every process on one database, on every machine, needs the same SECRET_KEY: set it, or restore the original data/secret.key.',
    );
  }
  return { config, log, deps: buildDeps({ config, db, log, secretKey }) };
}

/** An error's first line, after its code unless the line names it ("connect ECONNREFUSED 127.0.0.1:5432"). */
export function errorText(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = String(e?.message ?? err).split('\n')[0]!;
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

/** Start-up cannot go on: one line on standard error, as for a bad setting, and exit 1. */
export async function startupFailed(message: string): Promise<never> {
  console.error(`Cannot start: ${message}`);
  await flushStdout();
  process.exit(1);
}

/** SIGTERM / SIGINT: stop taking work, finish what is in hand, close the database. */
export function onShutdown(log: Log, stop: () => Promise<void>): (reason: string) => void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'process.stopping');
    setTimeout(() => process.exit(1), 15_000).unref();
    stop().then(
      async () => {
        log.info('process.stopped');
        await flushStdout();
        process.exit(0);
      },
      () => flushStdout().then(() => process.exit(1)),
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
  return handler;
}
