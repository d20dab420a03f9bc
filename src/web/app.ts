import express, { type RequestHandler } from 'express';
import type { Deps } from '../deps.js';
import { safeEqual } from '../platform/crypto.js';
import { AppError } from '../platform/errors.js';
import { errorHandler } from './error-handler.js';
import { installRoutes } from '../portals/install.routes.js';
import { settingsRoutes } from '../portals/settings.routes.js';
import { logRoutes } from '../portals/log.routes.js';
import { consoleRoutes } from '../console/console.routes.js';
import { eventsRoutes } from '../portals/events.routes.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { intakeHandler, isHandlerRequest } from '../messages/intake.http.js';
import { dlrRoutes, isKannelDlrRequest, kannelDlrHandler } from '../delivery/dlr.routes.js';
import { homeRoutes } from './home.routes.js';

/**
 * The service's request listener, built from its dependencies; never listens. The hot paths, `POST /handler`
 * (every SMS) and Kannel's delivery reports, are answered on node's own request; everything else by the express app.
 */
export function createApp(deps: Deps): (req: IncomingMessage, res: ServerResponse) => void {
  const https = deps.config.PUBLIC_URL.startsWith('https:');
  const intake = intakeHandler({
    intake: deps.intake, log: deps.log, headers: securityHeaderList(https),
    observe: (seconds, status) => deps.metrics.handlerLatency.observe(seconds, { status: String(status) }),
  });
  const dlr = kannelDlrHandler({ ...deps, onSettled: deps.wake.settled, headers: securityHeaderList(https) });
  const app = expressApp(deps, https);
  return (req, res) => (isHandlerRequest(req) ? intake(req, res) : isKannelDlrRequest(req) ? dlr(req, res) : app(req, res));
}

/** How long a client may take to send a request's headers, and the whole request (Bitrix24's are a few kB). */
export const HEADERS_TIMEOUT_MS = 15_000;
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The HTTP server for `createApp`'s listener. A client that sends a request slowly, or stops in the middle, gets 408
 * and loses its connection after REQUEST_TIMEOUT_MS (node's default is 5 minutes: an anonymous client could hold
 * up to 1 MB of unread body per connection that long, across thousands of connections).
 */
export function createHttpServer(listener: http.RequestListener, opts: { headersTimeoutMs?: number; requestTimeoutMs?: number } = {}): http.Server {
  const requestTimeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  return http.createServer({
    requestTimeout,
    headersTimeout: Math.min(opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout),
    // How often node looks for requests past those deadlines (its default, 30 s, would double them).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, requestTimeout / 4)),
  }, listener);
}

function expressApp(deps: Deps, https: boolean) {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Which hop's address req.ip names (the console's login throttle keys on it); unset trusts no proxy.
  if (deps.config.TRUST_PROXY !== undefined) app.set('trust proxy', deps.config.TRUST_PROXY);
  app.use(securityHeaders(https));

  app.get('/healthz', async (_req, res) => {
    try {
      await deps.db.raw('select 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', message: 'the database does not answer' });
    }
  });

  app.get('/metrics', metricsAuth(deps.config.METRICS_TOKEN), async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await deps.metrics.render());
  });

  app.use(dlrRoutes({ ...deps, onSettled: deps.wake.settled }));
  app.use(homeRoutes(deps));
  app.use(installRoutes(deps));
  app.use(settingsRoutes(deps));
  app.use(logRoutes(deps));
  app.use(consoleRoutes(deps));
  app.use(eventsRoutes(deps));

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * On every answer. The CSP is a default for JSON and error answers: the frame pages and the console set
 * their own with setHeader, which replaces this one.
 */
function securityHeaderList(https: boolean): Array<[string, string]> {
  return [
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
    ...(https ? [['Strict-Transport-Security', 'max-age=31536000'] as [string, string]] : []),
  ];
}

function securityHeaders(https: boolean): RequestHandler {
  const list = securityHeaderList(https);
  return (_req, res, next) => {
    for (const [k, v] of list) res.setHeader(k, v);
    next();
  };
}

/** METRICS_TOKEN set: scrapers must send it as a bearer token. Unset: /metrics is open. */
function metricsAuth(token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (!token) return next();
    const auth = req.get('authorization') ?? '';
    const presented = /^bearer /i.test(auth) ? auth.slice('bearer '.length) : '';
    if (safeEqual(presented, token)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
    throw new AppError('unauthorized', 401, 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
  };
}
