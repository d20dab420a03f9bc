import { loadConfig } from '../../src/platform/config.js';
import { createLogger, type Log } from '../../src/platform/logger.js';
import type { Clock } from '../../src/platform/clock.js';
import { buildDeps } from '../../src/deps.js';
import { createApp } from '../../src/web/app.js';
import type { FakeBitrix24 } from '../fakes/bitrix24.js';
import { createTestDb } from './db.js';
import { startFakeSmsRu, type FakeSmsRu } from '../fakes/smsru.js';

export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdefghijklmnop';
export const PUBLIC_URL = 'https://sms.example.test';

/** The whole app on a real, migrated database, talking to a fake Bitrix24 over HTTP. */
export async function createTestContext(
  opts: { fake?: FakeBitrix24; smsru?: FakeSmsRu; env?: Record<string, string>; clock?: Clock; log?: Log; random?: () => number } = {},
) {
  const testDb = await createTestDb();
  // Without a fake SMS.ru of the test's own, one that takes any key (but "bad…") answers the install checks.
  const ownSmsRu = opts.smsru ? undefined : await startFakeSmsRu({ acceptAnyKey: true });
  const smsru = opts.smsru ?? ownSmsRu!;
  const config = loadConfig({
    PUBLIC_URL,
    DATABASE_URL: testDb.url,
    B24_CLIENT_ID: opts.fake?.clientId ?? 'app.test.client',
    B24_CLIENT_SECRET: opts.fake?.clientSecret ?? 'test-client-secret',
    B24_OAUTH_URL: opts.fake?.oauthUrl ?? 'http://127.0.0.1:9',
    B24_TIMEOUT_MS: '3000',
    SMSRU_API_URL: smsru.url,
    GATEWAY_TIMEOUT_MS: '2000',
    REPORT_LINGER: '0', // reports go at once unless a test is about batching
    ALLOW_PRIVATE_PORTALS: '1', // the fake Bitrix24 listens on loopback (portal-address.test.ts turns it off)
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const log = opts.log ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const deps = buildDeps({ config, db: testDb.db, log, secretKey: TEST_SECRET_KEY, clock: opts.clock, random: opts.random, restRetryBackoffMs: () => 50 });
  const app = createApp(deps);
  return {
    deps,
    app,
    db: testDb.db,
    smsru,
    config,
    dbSchema: testDb.schema,
    close: async () => {
      await Promise.all([deps.worker.stop(), deps.reporter.stop()]);
      await deps.smpp.close();
      await testDb.drop();
      await ownSmsRu?.close();
    },
  };
}

export type TestContext = Awaited<ReturnType<typeof createTestContext>>;
