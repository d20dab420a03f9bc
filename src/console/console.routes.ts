import type { DeploymentFacts } from '../platform/deployment-facts.js';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { safeEqual, type Crypto } from '../platform/crypto.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { HANDLER_KEY_GRACE_MS, type PortalRepo } from '../portals/portal-repo.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import type { ProviderRegistry } from '../portals/providers.js';
import type { ProviderCheckRepo, ProviderCheckResult } from '../portals/provider-check-repo.js';
import type { PauseStore } from '../bitrix/pauses.js';
import { consolePage, loginPage } from '../../views/console.js';
import type { StatsRepo } from './stats-repo.js';
import type { FailureCounter } from './login-throttle.js';
import { addressKey } from '../platform/ip.js';
import type { ConsoleSessions } from './console-sessions.js';
import { INT_ID_MAX, rowId } from '../platform/ids.js';
import { shownCode, shownInactiveReason } from './shown.js';

/** How long an action's result is shown by the link it redirects to. */
const FLASH_TTL_MS = 5 * 60_000;

const COOKIE = 'b24sms_admin';
const SESSION_MS = 12 * 60 * 60 * 1000;
const DEVICE_COOKIE = 'b24sms_device';
const DEVICE_MS = 365 * 24 * 60 * 60 * 1000;

const shownCheck = (c: ProviderCheckResult | undefined) => (c ? { ...c, error: c.error === null ? null : shownCode(c.error) } : null);

function cookie(req: Request, name: string): string | undefined {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      throw new AppError('invalid_cookie', 400, `the ${name} cookie is malformed; delete it and sign in again`);
    }
  }
  return undefined;
}

/**
 * The operator console at /admin: off (404) without ADMIN_PASSWORD. A signed, HttpOnly, SameSite=Strict
 * session cookie (Secure when PUBLIC_URL is https); every form carries a CSRF token derived from the session.
 * It can never be framed. A session ends at "Sign out" (in every web process) and when ADMIN_PASSWORD changes: it
 * carries a keyed hash of the password it was opened with.
 *
 * Failed logins are throttled by OWASP's device cookies: a successful login names the browser with a signed,
 * long-lived device cookie (a browser keeps the name it has), and a browser presenting one is throttled on its own;
 * everyone else shares the lockout of their address (req.ip, see TRUST_PROXY). Guessing from the operator's address
 * therefore cannot lock the operator out. Like a session, a device cookie carries the password it was earned with and
 * is no device once ADMIN_PASSWORD changed: device cookies collected with an old password give no extra guesses.
 */
export function consoleRoutes(deps: {
  config: Pick<Config, 'ADMIN_PASSWORD' | 'PUBLIC_URL'>;
  crypto: Pick<Crypto, 'sign' | 'verify' | 'derivedToken'>;
  facts: Pick<DeploymentFacts, 'getOrSet'>;
  clock: Clock;
  log: Log;
  portals: Pick<PortalRepo, 'all' | 'findById' | 'setDisabled' | 'rotateHandlerKey'>;
  settings: Pick<SettingsRepo, 'gatewayKinds'>;
  providers: Pick<ProviderRegistry, 'registerAll' | 'bindEvents'>;
  /** The periodic provider check's last result per portal. */
  providerChecks: Pick<ProviderCheckRepo, 'lastByPortal'>;
  /** Portals Bitrix24 asked us to leave alone for a while (OVERLOAD_LIMIT, PORTAL_DELETED, OPERATION_TIME_LIMIT). */
  pauses: Pick<PauseStore, 'running'>;
  stats: StatsRepo;
  // The status reports' outbox and its reporter, as far as the console uses them.
  reports: { counts(): Promise<{ pending: number; dropped: number }>; requeuePortal(portalId: number, now: number): Promise<number> };
  /** Wakes the reporters: this process's, and `npm start`'s background process's. */
  wake: { settled(): void };
  /** Failed logins by client address and by known device (login-throttle.ts), shared by every web process. */
  loginFailures: { addresses: FailureCounter; devices: FailureCounter };
  consoleSessions: ConsoleSessions;
}) {
  const router = Router();
  const stats = deps.stats;
  const password = deps.config.ADMIN_PASSWORD;
  const secure = deps.config.PUBLIC_URL.startsWith('https:');
  const { addresses, devices } = deps.loginFailures;
  const csrfFor = (sid: string) => deps.crypto.derivedToken(`csrf:${sid}`);
  const form = express.urlencoded({ extended: false, limit: '16kb' });

  const guard: RequestHandler = (_req, res, next) => {
    if (!password) return void res.status(404).json({ error: 'not_found', message: 'the operator console is off (no ADMIN_PASSWORD)' });
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'");
    res.setHeader('Cache-Control', 'no-store');
    next();
  };

  // Each signed cookie says what it is, so one can never be presented as the other.
  function signedCookie(req: Request, name: string, purpose: string): { id: string; pw?: unknown } | undefined {
    const v = deps.crypto.verify<{ purpose?: string; id?: unknown; pw?: unknown }>(cookie(req, name) ?? '', deps.clock());
    return v.ok && v.value.purpose === purpose && typeof v.value.id === 'string' ? { id: v.value.id, pw: v.value.pw } : undefined;
  }
  // Which password a session was opened with, never the password: a session opened before it changed is refused.
  const passwordTag = password ? deps.crypto.derivedToken(`console.password:${password}`) : '';
  const withThisPassword = (c: { pw?: unknown } | undefined) => c !== undefined && typeof c.pw === 'string' && safeEqual(c.pw, passwordTag);
  // Device cookies set before they carried a password tag count as devices while ADMIN_PASSWORD is the one in use
  // when this version first started (a deployment fact, the same for every process): an upgrade locks no operator out.
  const untaggedPassword = password ? deps.facts.getOrSet('console_untagged_devices_password', passwordTag, deps.clock()) : Promise.resolve('');
  untaggedPassword.catch(() => undefined);
  const untaggedDevice = async (c: { pw?: unknown } | undefined) =>
    c !== undefined && c.pw === undefined && safeEqual(await untaggedPassword.catch(() => ''), passwordTag);
  async function sessionOf(req: Request): Promise<string | undefined> {
    const s = signedCookie(req, COOKIE, 'console.session');
    if (!s || !withThisPassword(s)) return undefined;
    return (await deps.consoleSessions.ended(s.id)) ? undefined : s.id;
  }
  const newId = () => randomBytes(16).toString('hex');

  /** Actions need a session and the session's CSRF token. */
  const action: RequestHandler = async (req, _res, next) => {
    const sid = await sessionOf(req);
    if (!sid) throw new AppError('unauthorized', 401, 'sign in to the operator console first');
    if (!safeEqual(String(req.body?.csrf ?? ''), csrfFor(sid))) throw new AppError('forbidden', 403, 'the form is stale or forged (CSRF token mismatch)');
    next();
  };

  // What an action did, shown on the page it leads back to: signed, so that a link cannot put words of its own into
  // the console's trusted page ("session expired, sign in again at …").
  const back = (res: Response, flash: string) =>
    res.redirect(303, `/admin?flash=${encodeURIComponent(deps.crypto.sign({ purpose: 'flash', text: flash }, deps.clock() + FLASH_TTL_MS))}`);
  const flashOf = (q: unknown): string | undefined => {
    if (typeof q !== 'string' || q.length > 2048) return undefined;
    const v = deps.crypto.verify<{ purpose?: unknown; text?: unknown }>(q, deps.clock());
    return v.ok && v.value.purpose === 'flash' && typeof v.value.text === 'string' ? v.value.text.slice(0, 200) : undefined;
  };
  const portalParam = async (req: Request) => {
    const id = rowId(req.params.id, INT_ID_MAX);
    const p = id === undefined ? undefined : await deps.portals.findById(id);
    if (!p) throw new AppError('not_found', 404, 'no such portal');
    return p;
  };

  router.use('/admin', guard);

  router.get('/admin', async (req, res) => {
    const sid = await sessionOf(req);
    if (!sid) return res.type('html').send(loginPage({}).toString());
    const now = deps.clock();
    const [portals, figures, queue, reports, hourly] = await Promise.all([deps.portals.all(), stats.portalFigures(now), stats.queueHealth(now), deps.reports.counts(), stats.hourly(now)]);
    const health = { ...queue, reportsPending: reports.pending, reportsDropped: reports.dropped };
    const [gateways, checks, running] = await Promise.all([deps.settings.gatewayKinds(), deps.providerChecks.lastByPortal(), deps.pauses.running(now)]);
    res.type('html').send(consolePage({
      csrf: csrfFor(sid),
      flash: flashOf(req.query.flash),
      portals: portals.map((p) => ({
        id: p.id, domain: p.domain, memberId: p.memberId, status: p.status, inactiveReason: p.status === 'inactive' ? shownInactiveReason(p.inactiveReason) : null, disabled: Boolean(p.disabledAt),
        reportsWaitingSince: p.reportsWaitingSince,
        gateway: gateways.get(p.id) ?? null, ...(figures.get(p.id) ?? { today: 0, deliveryRate: null, lastError: null }),
        providerCheck: shownCheck(checks.get(p.id)),
        paused: running.filter((x) => x.portalId === p.id),
      })),
      health,
      hourly,
    }).toString());
  });

  router.post('/admin/login', form, async (req, res) => {
    const now = deps.clock();
    const presented = signedCookie(req, DEVICE_COOKIE, 'console.device');
    const device = withThisPassword(presented) || (await untaggedDevice(presented)) ? presented!.id : undefined;
    const [throttle, key] = device ? [devices, device] : [addresses, addressKey(req.ip)];
    const attempt = await throttle.attempt(key, now);
    if ('lockedUntil' in attempt) {
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil((attempt.lockedUntil - now) / 1000))));
      return res.status(429).type('html').send(loginPage({ error: 'Too many failed attempts. Try again later.' }).toString());
    }
    if (!safeEqual(String(req.body?.password ?? ''), password!)) {
      deps.log.warn({ ip: req.ip, knownDevice: Boolean(device) }, 'console.login.failed'); // the attempt stays counted
      return res.status(401).type('html').send(loginPage({ error: 'Wrong password.' }).toString());
    }
    await attempt.passed();
    // The address's failures stay: someone else behind it may be the one guessing.
    if (presented) await devices.clear(presented.id);
    const cookieOptions = { httpOnly: true, sameSite: 'strict', secure, path: '/admin' } as const;
    res.cookie(COOKIE, deps.crypto.sign({ purpose: 'console.session', id: newId(), pw: passwordTag }, now + SESSION_MS), { ...cookieOptions, maxAge: SESSION_MS });
    res.cookie(DEVICE_COOKIE, deps.crypto.sign({ purpose: 'console.device', id: presented?.id ?? newId(), pw: passwordTag }, now + DEVICE_MS), { ...cookieOptions, maxAge: DEVICE_MS });
    deps.log.info({ ip: req.ip }, 'console.login');
    res.redirect(303, '/admin');
  });

  router.post('/admin/logout', form, action, async (req, res) => {
    const now = deps.clock();
    await deps.consoleSessions.end(signedCookie(req, COOKIE, 'console.session')!.id, now + SESSION_MS, now);
    res.clearCookie(COOKIE, { path: '/admin' });
    res.redirect(303, '/admin');
  });

  router.post('/admin/portals/:id/reregister', form, action, async (req, res) => {
    const p = await portalParam(req);
    try {
      const codes = await deps.providers.registerAll(p.id);
      await deps.providers.bindEvents(p.id);
      back(res, `${p.domain}: registered ${codes.join(', ') || 'no senders'}`);
    } catch (err) {
      back(res, `${p.domain}: registration failed (${shownCode((err as { code?: unknown }).code)})`);
    }
  });

  /**
   * A new handler key (the old URL leaked: a proxy's access log, say). The portal's providers are registered again
   * with the new URL; the old key stays good until that worked and HANDLER_KEY_GRACE_MS after it, so Bitrix24's SMS
   * already on their way are not refused. When Bitrix24 could not be told, both stay good: the action is tried again.
   */
  router.post('/admin/portals/:id/rotate-key', form, action, async (req, res) => {
    const p = await portalParam(req);
    if (p.status === 'uninstalled') return back(res, `${p.domain}: uninstalled, its key was rotated then`);
    const how = await deps.portals.rotateHandlerKey(p.id, deps.clock());
    deps.log.info({ portalId: p.id, how }, 'console.portal.handler_key_rotated');
    try {
      const codes = await deps.providers.registerAll(p.id); // which starts the old key's grace period
      back(res, `${p.domain}: new handler key, ${codes.join(', ') || 'no senders'} registered with it; the old key works ${HANDLER_KEY_GRACE_MS / 60_000} more minutes`);
    } catch (err) {
      deps.log.warn({ portalId: p.id, error: (err as { code?: string }).code ?? String(err) }, 'console.portal.handler_key_not_registered');
      back(res, `${p.domain}: new handler key, but Bitrix24 could not be told (${shownCode((err as { code?: unknown }).code)}); both keys work until it is: rotate again`);
    }
  });

  router.post('/admin/portals/:id/retry-reports', form, action, async (req, res) => {
    const p = await portalParam(req);
    const n = await deps.reports.requeuePortal(p.id, deps.clock());
    deps.wake.settled();
    back(res, `${p.domain}: ${n} status reports queued again`);
  });

  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    router.post(`/admin/portals/:id/${verb}`, form, action, async (req, res) => {
      const p = await portalParam(req);
      await deps.portals.setDisabled(p.id, disabled, deps.clock());
      deps.log.info({ portalId: p.id }, `console.portal.${verb}d`);
      back(res, `${p.domain}: ${verb}d`);
    });
  }

  return router;
}
