import { deploymentFacts } from './platform/deployment-facts.js';
import type { Dispatcher } from 'undici';
import type { Config } from './platform/config.js';
import type { Db } from './platform/db.js';
import { createCrypto } from './platform/crypto.js';
import type { Clock } from './platform/clock.js';
import { systemClock } from './platform/clock.js';
import type { Log } from './platform/logger.js';
import { createDispatcher } from './platform/http.js';
import { createGatewayAddressCheck, createGatewayDispatcher, createPortalDispatcher } from './platform/address-guard.js';
import { createOAuthClient } from './bitrix/oauth.js';
import { createLimiter, databaseBuckets } from './bitrix/limiter.js';
import { databasePauses } from './bitrix/pauses.js';
import { createConsoleSessions } from './console/console-sessions.js';
import { databaseFailureLog, LOGIN_THROTTLE } from './console/login-throttle.js';
import { createRetentionJob } from './messages/retention.js';
import { createLeases } from './platform/leases.js';
import { createTokenRefresher } from './bitrix/token-refresher.js';
import { createRestClient } from './bitrix/rest-client.js';
import { createPortalRepo } from './portals/portal-repo.js';
import { createIdentityRepo } from './portals/identity-repo.js';
import { createSettingsRepo } from './portals/settings-repo.js';
import { createProviderRegistry } from './portals/providers.js';
import { createInstallService } from './portals/install.service.js';
import { BALANCE_TIMEOUT_MS, createSettingsService } from './portals/settings.service.js';
import { createSettingsView } from './portals/settings-view.js';
import { createEventsService } from './portals/events.service.js';
import { createTokenChecks, TOKEN_CHECK_LIMITS } from './portals/verify.js';
import { createFairGate } from './platform/fair-gate.js';
import { createConnectionCheck } from './portals/connection-check.js';
import { createConnectionCheckRepo } from './portals/connection-check-repo.js';
import { createTokenKeeper } from './portals/token-keeper.js';
import { createProviderCheck } from './portals/provider-check.js';
import { createProviderCheckRepo } from './portals/provider-check-repo.js';
import { createFormTokens } from './portals/form-token.js';
import { createMessageRepo } from './messages/message-repo.js';
import { createIntakeService } from './messages/intake.service.js';
import { createLogRepo } from './messages/log-repo.js';
import { createQueueRepo } from './delivery/queue-repo.js';
import { createGatewayFactory } from './gateways/index.js';
import { createSmscRuLimits } from './gateways/smscru-limits.js';
import { accountMac, createAccounts } from './delivery/accounts.js';
import { createSendWorker } from './delivery/send-worker.js';
import { createReportRepo } from './delivery/report-repo.js';
import { createStatusReporter } from './delivery/status-reporter.js';
import { createStatusesJob } from './delivery/statuses-job.js';
import { dlrUrl, messageDlrUrlFor } from './delivery/dlr-url.js';
import { createQueueSignal } from './delivery/queue-signal.js';
import { createAppMetrics } from './web/app-metrics.js';
import { createStatsRepo } from './console/stats-repo.js';
import { createSmppPool } from './gateways/smpp/pool.js';
import { guardedConnect, type SmppConnect } from './gateways/smpp/connect.js';
import { createSmppPeers, createSmppReceipts } from './delivery/smpp-receipts.js';
import { createPartRepo } from './delivery/part-repo.js';

export interface DepsOptions {
  config: Config;
  db: Db;
  log: Log;
  secretKey: string;
  clock?: Clock;
  dispatcher?: Dispatcher;
  /** For gateway addresses typed on portals' forms (Kannel); guarded against internal addresses. */
  gatewayDispatcher?: Dispatcher;
  /** For portals' REST endpoints (their domains are their owners' choice); guarded like gateways' (ALLOW_PRIVATE_PORTALS). */
  portalDispatcher?: Dispatcher;
  /** How SMPP sessions connect (tests: a TLS CA of their own); by default through the same address guard. */
  smppConnect?: SmppConnect;
  restRetryBackoffMs?: (attempt: number) => number;
  random?: () => number;
}

/** Wires every component from config, database and logger. Nothing here starts a loop. */
export function buildDeps(o: DepsOptions) {
  const { config, db, log } = o;
  const clock = o.clock ?? systemClock;
  const dispatcher = o.dispatcher ?? createDispatcher();
  const gatewayDispatcher = o.gatewayDispatcher ?? createGatewayDispatcher({
    allowPrivate: config.ALLOW_PRIVATE_GATEWAYS, publicUrl: config.PUBLIC_URL, ownPort: config.PORT, clock,
  });
  const portalDispatcher = o.portalDispatcher ?? createPortalDispatcher({
    allowPrivate: config.ALLOW_PRIVATE_PORTALS, publicUrl: config.PUBLIC_URL, ownPort: config.PORT, clock,
  });
  const crypto = createCrypto(o.secretKey);
  const reports = createReportRepo(db);
  const metrics = createAppMetrics(db, reports);
  const formTokens = createFormTokens(crypto, clock);
  const portals = createPortalRepo(db, crypto, clock);
  const identities = createIdentityRepo(db, crypto);
  const settings = createSettingsRepo(db, crypto);
  // Final states are counted as they happen (metrics), so /metrics never scans the whole messages table.
  const onFinal = (state: string, gateway: string) => metrics.messagesFinal.inc({ state, gateway });
  const messages = createMessageRepo(db, { onFinal });
  const oauth = createOAuthClient({
    baseUrl: config.B24_OAUTH_URL,
    clientId: config.B24_CLIENT_ID,
    clientSecret: config.B24_CLIENT_SECRET,
    dispatcher,
    timeoutMs: config.B24_TIMEOUT_MS,
    clock,
  });
  const tokenChecks = createTokenChecks({ oauth, gate: createFairGate({
    ...TOKEN_CHECK_LIMITS, maxWaitMs: config.B24_TIMEOUT_MS, onRefused: (reason) => metrics.tokenChecksRefused.inc({ reason }),
  }) });
  const queue = createQueueRepo(db, { onFinal });
  const limiter = createLimiter({
    burst: config.B24_RATE_BURST, perSecond: config.B24_RATE_PER_SECOND, jitterMs: config.B24_RATE_JITTER, store: databaseBuckets(db),
  });
  // The refresh lease outlasts the OAuth call it covers: its writes hold only while it is still this refresh's.
  const refresher = createTokenRefresher({
    portals, oauth, clock, log, leaseMs: Math.max(30_000, 2 * config.B24_TIMEOUT_MS), onOutcome: (outcome) => metrics.tokenRefreshes.inc({ outcome }),
  });
  const pauses = databasePauses(db);
  const rest = createRestClient({
    portals, refresher, oauth, limiter, dispatcher: portalDispatcher, clock, log, timeoutMs: config.B24_TIMEOUT_MS, backoffMs: o.restRetryBackoffMs, pauses,
    onCall: ({ method, outcome }) => metrics.restCalls.inc({ method, outcome }),
  });
  // SMSC.ru's one mass status request a minute per login is kept in the database's buckets, for every process. The
  // rest of its limits are one per process, shared by the sending adapters and the settings page's balance: a
  // refused login or an address block (error 4) learned by either holds for both.
  const smscruLimits = createSmscRuLimits({ gate: databaseBuckets(db), clock, concurrency: config.SMSCRU_CONCURRENCY });
  const smscru = { smscruUrl: config.SMSCRU_API_URL, smscruLimits };
  // SMPP hosts are typed on portals' forms as Kannel URLs are: the same guard, at connect time.
  const smpp = createSmppPool({
    connect: o.smppConnect ?? guardedConnect(createGatewayAddressCheck({ allowPrivate: config.ALLOW_PRIVATE_GATEWAYS, publicUrl: config.PUBLIC_URL, ownPort: config.PORT, clock })),
    log, random: o.random,
    options: {
      binds: config.SMPP_BINDS, timeoutMs: config.GATEWAY_TIMEOUT_MS, enquireLinkMs: config.SMPP_ENQUIRE_LINK, idleMs: config.SMPP_IDLE,
      reconnectBaseMs: config.SMPP_RECONNECT_BASE, reconnectCapMs: config.SMPP_RECONNECT_CAP,
    },
  });
  const gateways = createGatewayFactory({
    smpp, smsruUrl: config.SMSRU_API_URL, dispatcher, tenantDispatcher: gatewayDispatcher, timeoutMs: config.GATEWAY_TIMEOUT_MS, log, sandboxDelayMs: config.SANDBOX_DELAY, ...smscru,
  });
  const balanceGateways = createGatewayFactory({
    smpp, smsruUrl: config.SMSRU_API_URL, dispatcher, tenantDispatcher: gatewayDispatcher, timeoutMs: Math.min(BALANCE_TIMEOUT_MS, config.GATEWAY_TIMEOUT_MS), log, ...smscru,
  });
  const accounts = createAccounts({ settings, gateways, mac: accountMac(crypto) });
  const reporter = createStatusReporter({
    reports, rest, identities, portals, leases: createLeases(db), clock, log, random: o.random,
    options: {
      claimLimit: 500, leaseMs: 60_000, maxAgeMs: config.REPORT_MAX_AGE, retryBaseMs: config.RETRY_BASE, retryCapMs: config.RETRY_CAP,
      idlePollMs: 5_000, lingerMs: config.REPORT_LINGER,
    },
    onReport: (outcome, n) => metrics.reports.inc({ outcome }, n),
  });
  const worker = createSendWorker({
    queue, portals, accounts, clock, log, random: o.random,
    dlrUrl: messageDlrUrlFor(config.PUBLIC_URL, crypto),
    options: {
      concurrency: config.WORKER_CONCURRENCY, perAccount: config.GATEWAY_CONCURRENCY, leaseMs: config.WORKER_LEASE,
      maxAgeMs: config.SEND_MAX_AGE, maxAttempts: config.SEND_MAX_ATTEMPTS, retryBaseMs: config.RETRY_BASE, retryCapMs: config.RETRY_CAP, idlePollMs: config.WORKER_POLL,
      slowSendMs: config.GATEWAY_TIMEOUT_MS / 2,
    },
    onSettled: () => reporter.kick(),
    onSend: (gateway, outcome, seconds) => {
      metrics.gatewayLatency.observe(seconds, { gateway });
      metrics.gatewaySends.inc({ gateway, outcome });
    },
  });
  // SMPP receipts arrive over the binds and settle messages as delivery reports do.
  smpp.setSink(createSmppReceipts({
    queue, parts: createPartRepo(db), clock, log, random: o.random, onSettled: () => reporter.kick(), peers: createSmppPeers({ settings }),
    resend: { baseMs: config.RETRY_BASE, capMs: config.RETRY_CAP, maxAgeMs: config.SEND_MAX_AGE },
  }));
  const statusesJob = createStatusesJob({
    queue, accounts, leases: createLeases(db), clock, log, onSettled: () => reporter.kick(),
    // A portal's poll lease covers one gateway call (it is renewed before each), so a poller that dies holds the
    // portal's polling that long at most.
    options: {
      maxAgeMs: config.STATUS_MAX_AGE, unknownOutcomeMs: config.UNKNOWN_OUTCOME_WINDOW, unknownGraceMs: config.UNKNOWN_OUTCOME_GRACE, perPortalLimit: 5_000,
      pollLeaseMs: Math.max(30_000, 2 * config.GATEWAY_TIMEOUT_MS),
    },
  });
  const providers = createProviderRegistry({ rest, portals, settings, publicUrl: config.PUBLIC_URL, clock, log });
  const connection = createConnectionCheck({ rest, providers, checks: createConnectionCheckRepo(db), clock, log });
  // The provider check is built further down; an event only calls it once deps are built.
  const events = createEventsService({ tokenChecks, rest, portals, providers, providerCheck: { checkNow: (id, ms) => providerCheck.checkNow(id, ms) }, connection, clock, log });
  const queueSignal = createQueueSignal(db, log);
  /**
   * Wake-ups for the loops: this process's own at once, workers in other processes through PostgreSQL's
   * LISTEN/NOTIFY, and `npm start`'s own background process through its IPC channel (`forwardTo`).
   */
  const forwards: Array<(what: 'queued' | 'settled') => void> = [];
  const wake = {
    queued() {
      worker.kick();
      queueSignal.notify();
      for (const f of forwards) f('queued');
    },
    settled() {
      reporter.kick();
      for (const f of forwards) f('settled');
    },
    forwardTo(f: (what: 'queued' | 'settled') => void) {
      forwards.push(f);
    },
  };
  const intake = createIntakeService({ portals, messages, identities, clock, log, onQueued: wake.queued, onRejected: wake.settled });
  const settingsService = createSettingsService({
    tokenChecks, rest, portals, settings, providers, accounts, gateways, balanceGateways, intake, identities, clock, log,
    // An administrator's visit gives reports that waited for a token that may set them (issue 10 §3) another go now.
    wakeWaitingReports: async (portalId: number) => {
      if (await reports.wakeWaiting(portalId, clock())) wake.settled();
    },
    callbackUrl: (gateway, portalId) => dlrUrl(config.PUBLIC_URL, crypto, { gateway, portalId }),
  });
  const install = createInstallService({ tokenChecks, rest, portals, identities, settings, settingsService, providers, clock, log });
  const logs = createLogRepo(db);
  const stats = createStatsRepo(db);
  const settingsView = createSettingsView({ settings, logs, formTokens, balance: settingsService.balance });
  const tokenKeeper = createTokenKeeper({ portals, refresher, clock, log });
  const providerChecks = createProviderCheckRepo(db);
  const providerCheck = createProviderCheck({
    portals, settings, providers, rest, checks: providerChecks, leases: createLeases(db), identities, clock, log,
    onRepair: (what, n) => metrics.providerRepairs.inc({ what }, n),
  });
  const retention = createRetentionJob({ db, clock, log, retentionMs: config.MESSAGE_RETENTION, partsKeepMs: config.STATUS_MAX_AGE });
  const loginFailures = {
    addresses: databaseFailureLog(db, { ...LOGIN_THROTTLE, prefix: 'address:' }),
    devices: databaseFailureLog(db, { ...LOGIN_THROTTLE, prefix: 'device:' }),
  };
  const consoleSessions = createConsoleSessions(db);
  const facts = deploymentFacts(db);

  return {
    config, db, log, clock, dispatcher, crypto, formTokens, portals, identities, settings, messages, queue, reports, metrics, oauth, tokenChecks, limiter, refresher, rest,
    providers, install, events, intake, tokenKeeper, gateways, smpp, accounts, worker, reporter, statusesJob, queueSignal, wake,
    settingsService, settingsView, logs, stats, loginFailures, consoleSessions, facts, retention, providerChecks, providerCheck, pauses, connection,
  };
}

export type Deps = ReturnType<typeof buildDeps>;
