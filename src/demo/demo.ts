import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { loadConfig } from '../platform/config.js';
import { createLogger, type Log } from '../platform/logger.js';
import { createDb, migrate, type Db } from '../platform/db.js';
import { buildDeps } from '../deps.js';
import { createApp } from '../web/app.js';
import { startBackground } from '../runtime.js';
import { startSimulatedBitrix24 } from './simulated-bitrix24/bitrix24.js';
import { loopbackOnlyDispatcher, loopbackOnlySmpp } from './loopback-only.js';
import { ownHostOnly } from './own-host.js';
import { createCrm } from './crm.js';
import { demoRoutes } from './demo.routes.js';

/** The demo's own database, emptied at every start: the simulated portal lives in memory and starts afresh too. */
export const DEMO_DATABASE = 'data/demo.sqlite';
export const DEMO_SENDER = 'DemoShop';

export interface DemoOptions {
  /** A migrated database of the caller's (the tests'), with its URL; without it the demo's own SQLite file. */
  database?: { db: Db; url: string };
  log?: Log;
  /** SANDBOX_DELAY: how long the sandbox takes to report each message's fate. */
  sandboxDelay?: string;
  /** Runs the worker, reporter and jobs (the default); tests may step them instead. */
  background?: boolean;
}

/**
 * `npm run demo` in one call: a simulated Bitrix24 (OAuth server and one portal) and the whole service, every socket
 * on 127.0.0.1, the portal's app already installed on the sandbox gateway. The portal's address serves the demo page
 * (`url`), which plays Bitrix24 around the app's real pages.
 */
export async function startDemo(o: DemoOptions = {}) {
  const log = o.log ?? createLogger('warn');
  const b24 = await startSimulatedBitrix24();
  const portal = await b24.addPortal();
  // PUBLIC_URL is built from the app's address, so the app listens first and takes its requests once built.
  const server = http.createServer();
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const appUrl = `http://127.0.0.1:${port}`;
  const adminPassword = randomBytes(9).toString('base64url');
  const databaseUrl = o.database?.url ?? DEMO_DATABASE;
  const config = loadConfig({
    PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: appUrl, DATABASE_URL: databaseUrl,
    B24_CLIENT_ID: b24.clientId, B24_CLIENT_SECRET: b24.clientSecret, B24_OAUTH_URL: b24.oauthUrl,
    B24_JS_SDK_URL: `http://${portal.domain}/bx24.js`,
    ADMIN_PASSWORD: adminPassword,
    SANDBOX_DELAY: o.sandboxDelay ?? '2s',
    // Should a sandbox report be lost, the poll finds the fate within seconds rather than a minute.
    STATUS_POLL_CRON: '*/10 * * * * *',
    WORKER_PROCESS: '0',
  });
  let db = o.database?.db;
  const ownDb = !db;
  if (!db) {
    for (const f of [databaseUrl, `${databaseUrl}-wal`, `${databaseUrl}-shm`]) rmSync(f, { force: true });
    db = createDb(databaseUrl);
    await migrate(db);
  }
  const dispatcher = loopbackOnlyDispatcher();
  // A key of this run's only: nothing of the demo is readable after it, and data/secret.key is never touched.
  const deps = buildDeps({
    config, db, log, secretKey: randomBytes(32).toString('hex'), dispatcher, gatewayDispatcher: dispatcher, portalDispatcher: dispatcher, smppConnect: loopbackOnlySmpp(),
  });
  // The app itself stays as `npm start` runs it; only the demo's listener refuses other Hosts (see ownHostOnly).
  server.on('request', ownHostOnly(createApp(deps)));
  const stopBackground = o.background === false ? async () => {} : startBackground(deps);

  const close = async () => {
    await new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
    await stopBackground();
    await Promise.all([deps.worker.stop(), deps.reporter.stop()]);
    await b24.close();
    await dispatcher.close();
    if (ownDb) await db.destroy();
  };

  try {
    await preinstall();
  } catch (err) {
    await close();
    throw err;
  }

  /** What the portal's administrator did once: the install page's two steps and BX24.installFinish(). */
  async function preinstall() {
    const tokens = b24.issueTokens(portal, 1);
    // As Bitrix24's frame form: no APPLICATION_TOKEN; ONAPPINSTALL brings it once the install is finished.
    const { portal: stored } = await deps.install.acceptInstallFrame({
      authId: tokens.accessToken, authExpires: 3600, refreshId: tokens.refreshToken, memberId: portal.memberId,
      domain: portal.domain, https: false, from: 'demo',
    });
    await deps.install.configure(stored.id, { gateway: 'sandbox', credentials: {}, sender: DEMO_SENDER });
    await b24.finishInstall(portal);
  }

  const crm = createCrm({ b24, portal, onError: (err) => log.warn({ err: String(err) }, 'demo.dispatch.failed') });
  const pages = express();
  pages.disable('x-powered-by');
  pages.set('query parser', 'simple');
  pages.use(pageHeaders(appUrl));
  pages.use(demoRoutes({ b24, portal, crm, appUrl, adminPassword }));
  pages.use(pageErrors(log));
  portal.web = pages;

  return { url: `http://${portal.domain}/demo`, appUrl, adminPassword, b24, portal, deps, crm, close };
}

export type Demo = Awaited<ReturnType<typeof startDemo>>;

/** The portal's pages run their own script and frame the app's pages; nothing comes from anywhere else. */
function pageHeaders(appOrigin: string): RequestHandler {
  const csp = [
    "default-src 'self'", "script-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "connect-src 'self'", `frame-src 'self' ${appOrigin}`, `form-action 'self' ${appOrigin}`, "frame-ancestors 'self'",
  ].join('; ');
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  };
}

function pageErrors(log: Log): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    log.error({ err: String(err) }, 'demo.page.failed');
    res.status(500).json({ error: 'internal_error', message: 'the demo page failed; see the terminal' });
  };
}
