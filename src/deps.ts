import type { Dispatcher } from 'undici';
import type { Config } from './platform/config.js';
import type { Db } from './platform/db.js';
import { createCrypto } from './platform/crypto.js';
import type { Clock } from './platform/clock.js';
import { systemClock } from './platform/clock.js';
import type { Log } from './platform/logger.js';
import { createDispatcher } from './platform/http.js';
import { createOAuthClient } from './bitrix/oauth.js';
import { createLimiter } from './bitrix/limiter.js';
import { createTokenRefresher } from './bitrix/token-refresher.js';
import { createRestClient } from './bitrix/rest-client.js';
import { createPortalRepo } from './portals/portal-repo.js';
import { createSettingsRepo } from './portals/settings-repo.js';
import { createProviderRegistry } from './portals/providers.js';
import { createInstallService } from './portals/install.service.js';
import { createEventsService } from './portals/events.service.js';
import { createTokenKeeper } from './portals/token-keeper.js';
import { createMessageRepo } from './messages/message-repo.js';
import { createIntakeService } from './messages/intake.service.js';

export interface DepsOptions {
  config: Config;
  db: Db;
  log: Log;
  secretKey: string;
  clock?: Clock;
  dispatcher?: Dispatcher;
  restRetryBackoffMs?: (attempt: number) => number;
}

/** Wires every component from config, database and logger. Nothing here starts a loop. */
export function buildDeps(o: DepsOptions) {
  const { config, db, log } = o;
  const clock = o.clock ?? systemClock;
  const dispatcher = o.dispatcher ?? createDispatcher();
  const crypto = createCrypto(o.secretKey);
  const portals = createPortalRepo(db, crypto);
  const settings = createSettingsRepo(db, crypto);
  const messages = createMessageRepo(db);
  const oauth = createOAuthClient({
    baseUrl: config.B24_OAUTH_URL,
    clientId: config.B24_CLIENT_ID,
    clientSecret: config.B24_CLIENT_SECRET,
    dispatcher,
    timeoutMs: config.B24_TIMEOUT_MS,
    clock,
  });
  const limiter = createLimiter({ burst: config.B24_RATE_BURST, perSecond: config.B24_RATE_PER_SECOND });
  const refresher = createTokenRefresher({ portals, oauth, clock, log });
  const rest = createRestClient({
    portals, refresher, limiter, dispatcher, clock, log, timeoutMs: config.B24_TIMEOUT_MS, backoffMs: o.restRetryBackoffMs,
  });
  const providers = createProviderRegistry({ rest, portals, settings, publicUrl: config.PUBLIC_URL, clock, log });
  const install = createInstallService({ oauth, portals, settings, providers, clock, log });
  const events = createEventsService({ oauth, portals, providers, clock, log });
  const intake = createIntakeService({ portals, messages, clock, log });
  const tokenKeeper = createTokenKeeper({ portals, refresher, clock, log });

  return { config, db, log, clock, dispatcher, crypto, portals, settings, messages, oauth, limiter, refresher, rest, providers, install, events, intake, tokenKeeper };
}

export type Deps = ReturnType<typeof buildDeps>;
