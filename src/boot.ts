import { ConfigError, configWarnings, loadConfig, type Config } from './platform/config.js';
import { createLogger, flushStdout, stdoutDestination, type Log } from './platform/logger.js';
import { resolveSecretKey } from './platform/secret-key.js';
import { createDb, migrate } from './platform/db.js';
import { buildDeps } from './deps.js';

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
  const db = createDb(config.DATABASE_URL, { schema: config.DATABASE_SCHEMA });
  await migrate(db);
  return { config, log, deps: buildDeps({ config, db, log, secretKey }) };
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
