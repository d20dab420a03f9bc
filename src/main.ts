import cron from 'node-cron';
import { ConfigError, loadConfig } from './platform/config.js';
import { createLogger } from './platform/logger.js';
import { resolveSecretKey } from './platform/secret-key.js';
import { createDb, migrate } from './platform/db.js';
import { buildDeps } from './deps.js';
import { createApp } from './web/app.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  if (!config.B24_CLIENT_ID || !config.B24_CLIENT_SECRET) {
    log.warn('config.b24_client.missing: B24_CLIENT_ID / B24_CLIENT_SECRET are not set; installs will be refused');
  }
  const secretKey = resolveSecretKey(config.SECRET_KEY, 'data/secret.key', log);
  const db = createDb(config.DATABASE_URL);
  await migrate(db);
  const deps = buildDeps({ config, db, log, secretKey });

  const server = createApp(deps).listen(config.PORT, config.HOST, () => {
    log.info({ port: config.PORT, host: config.HOST, db: config.databaseClient }, 'server.started');
  });
  const keeper = cron.schedule(config.TOKEN_KEEPER_CRON, () => {
    deps.tokenKeeper.runOnce().catch((err) => log.error({ err: String(err) }, 'token_keeper.failed'));
  });

  const stop = (signal: string) => {
    log.info({ signal }, 'server.stopping');
    keeper.stop();
    server.close(async () => {
      await db.destroy();
      log.info('server.stopped');
      process.exit(0);
    });
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
