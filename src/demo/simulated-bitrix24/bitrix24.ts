import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { listen, readBody, send, type Json } from './http.js';
import { callMethod, PhpFatal, portalBlock, withOperating } from './methods.js';
import { nextMessageId, smsForm } from './sms-body.js';
import { ownHostOnly } from '../own-host.js';

/**
 * A simulated Bitrix24 built from the platform reference (docs: ../shared/reference/bitrix24.md): one OAuth server
 * (oauth.bitrix.info) and any number of portals, each with its own REST endpoint on 127.0.0.1, with Bitrix24's
 * limits and error bodies. The one implementation behind both `npm run demo` and the tests' fake Bitrix24
 * (test/fakes/bitrix24.ts re-exports it under the names the tests use).
 */
export interface SimulatedUser {
  id: number;
  admin: boolean;
  /** A user dismissed or deactivated in Bitrix24: their tokens are refused as a whole (authorization_error). */
  active?: boolean;
}

export interface TokenInfo {
  portal: SimulatedPortal;
  user: SimulatedUser;
  expired: boolean;
  clientId: string;
}

export interface SimulatedPortal {
  memberId: string;
  domain: string;
  endpoint: string;
  installed: boolean;
  /**
   * The app's b_rest_app row is active (core ACTIVE=Y): false from its uninstall until it is installed again. Every
   * call with a token of an app that is not active is refused (core oauth/auth.php: APPLICATION_NOT_FOUND).
   */
  appActive: boolean;
  applicationToken: string;
  users: SimulatedUser[];
  senders: Map<string, { CODE: string; TYPE: string; HANDLER: string; NAME: unknown }>;
  events: Array<{ event: string; handler: string }>;
  statusUpdates: Array<{ CODE: string; MESSAGE_ID: string; STATUS: string; userId: number }>;
  /**
   * The messages Bitrix24 created and handed to our providers (message_id → provider CODE and author): status.update
   * finds nothing else. `dispatchSms` and the test helper `postSms` write here, as the portal would.
   */
  messages: Map<string, { code: string; authorId: number }>;
  calls: Array<{ method: string; params: Json; userId: number; batched: boolean }>;
  /** Requests answered by the bucket (QUERY_LIMIT_EXCEEDED) and the fullest it ever got. */
  limitHits: number;
  maxLevel: number;
  bucket: { level: number; at: number };
  supportsSenderUpdate: boolean;
  failNext: Array<{ status: number; body: Json; headers?: Record<string, string> }>;
  /** Message ids Bitrix24 has purged (status.update answers ERROR_MESSAGE_NOT_FOUND). */
  purged: Set<string>;
  /**
   * Message ids whose status.update ends in a PHP error (core CRestServer catches exceptions, not errors): the whole
   * request, a batch with it too, answers 500 INTERNAL_SERVER_ERROR.
   */
  crashingMessages: Set<string>;
  /** Test hook (test/outbound.test.ts): each entry holds one REST request that many ms before it is handled. */
  delayNext: number[];
  /** What the user sees in the CRM card: the last status reported for each dispatched message. */
  shown: Map<string, string>;
  /** An older on-premise Bitrix24: these methods answer ERROR_METHOD_NOT_FOUND and method.get says they do not exist. */
  missingMethods: Set<string>;
  /** The public part is closed (core rest.php, site_stopped=Y): every REST call answers 403 PORTAL_DELETED. */
  siteStopped: boolean;
  /** Bitrix24 blocked the portal's REST API for overload (manual, by support): every call answers 401 OVERLOAD_LIMIT. */
  overloaded: boolean;
  /** The plan has no REST (a lapsed commercial plan, core oauth/auth.php): every call answers 401 ACCESS_DENIED. */
  restUnavailable: boolean;
  /** Methods over their execution-time limit (limits.md): 429 OPERATION_TIME_LIMIT, also inside a batch. */
  timeLimited: Set<string>;
  /** operating_reset_at (Unix seconds) that a method's successful answers carry in their `time` block. */
  operatingResetAt: Map<string, number>;
  /** A firewall blocks the cloud event queue's way to the app: events are lost (event.test still answers 1). */
  eventQueueBlocked: boolean;
  /** Event deliveries the queue started (they run on their own): tests await these instead of sleeping. */
  eventDeliveries: Array<Promise<void>>;
  /** The portal's own web pages (the demo's CRM card): everything outside /rest/ on the portal's address. */
  web?: http.RequestListener;
  close: () => Promise<void>;
}

export interface SimulatedOptions {
  clientId?: string;
  clientSecret?: string;
  burst?: number;
  perSecond?: number;
  /** Delays each refresh answer, to widen race windows in concurrency tests. */
  refreshDelayMs?: number;
}

const token = () => randomBytes(16).toString('hex');

export async function startSimulatedBitrix24(opts: SimulatedOptions = {}) {
  const clientId = opts.clientId ?? 'app.test.client';
  const clientSecret = opts.clientSecret ?? 'test-client-secret';
  const burst = opts.burst ?? 50;
  const perSecond = opts.perSecond ?? 2;
  const access = new Map<string, TokenInfo>();
  const refresh = new Map<string, { portal: SimulatedPortal; user: SimulatedUser }>();
  const portals: SimulatedPortal[] = [];
  let refreshCount = 0;
  let refreshesReceived = 0;
  let refreshDelayMs = opts.refreshDelayMs ?? 0;
  let refreshHeld: Promise<void> | undefined;
  // Test hook: app.info calls as they arrive (their tokens), how many are being answered, and answers held back.
  const appInfo = { received: [] as string[], inFlight: 0, maxInFlight: 0, hold: false, held: [] as Array<() => void> };

  function issue(portal: SimulatedPortal, user: SimulatedUser, issuedTo = clientId) {
    const a = token();
    const r = token();
    access.set(a, { portal, user, expired: false, clientId: issuedTo });
    refresh.set(r, { portal, user });
    return { accessToken: a, refreshToken: r };
  }

  function appInfoResult(t: TokenInfo) {
    return {
      result: {
        ID: 7, CODE: 'test.app', VERSION: 1, STATUS: 'L', INSTALLED: t.portal.installed,
        client_id: t.clientId,
        install: { installed: t.portal.installed, version: 1, status: 'L', domain: t.portal.domain, member_id: t.portal.memberId },
      },
      time: { start: Date.now() / 1000 },
    };
  }

  function tokenError(t: TokenInfo | undefined): { status: number; body: Json } | undefined {
    if (!t) return { status: 401, body: { error: 'invalid_token', error_description: 'The access token provided is invalid.' } };
    if (t.expired) return { status: 401, body: { error: 'expired_token', error_description: 'The access token provided has expired.' } };
    return undefined;
  }

  const oauth = await listen(ownHostOnly(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const { fields } = await readBody(req);
    const p = { ...Object.fromEntries(url.searchParams), ...fields } as Json;
    if (url.pathname === '/rest/app.info' || url.pathname === '/rest/app.info.json') {
      appInfo.received.push(String(p.auth ?? ''));
      appInfo.maxInFlight = Math.max(appInfo.maxInFlight, ++appInfo.inFlight);
      if (appInfo.hold) await new Promise<void>((r) => appInfo.held.push(r));
      appInfo.inFlight--;
      const t = access.get(String(p.auth ?? ''));
      const e = tokenError(t);
      return e ? send(res, e.status, e.body) : send(res, 200, appInfoResult(t!));
    }
    if (url.pathname === '/oauth/token/' || url.pathname === '/oauth/token') {
      if (p.grant_type !== 'refresh_token') return send(res, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant type' });
      if (p.client_id !== clientId || p.client_secret !== clientSecret) return send(res, 401, { error: 'invalid_client', error_description: 'Invalid client' });
      const old = refresh.get(String(p.refresh_token ?? ''));
      if (!old) return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant' });
      refreshesReceived++;
      if (refreshDelayMs) await new Promise((r) => setTimeout(r, refreshDelayMs));
      if (refreshHeld) await refreshHeld;
      // Rotation: the old refresh token and every access token of that user die now.
      if (!refresh.delete(String(p.refresh_token))) return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant' });
      for (const [k, v] of access) if (v.portal === old.portal && v.user === old.user) access.delete(k);
      refreshCount++;
      const pair = issue(old.portal, old.user);
      return send(res, 200, {
        access_token: pair.accessToken, refresh_token: pair.refreshToken, expires_in: 3600,
        expires: Math.floor(Date.now() / 1000) + 3600, scope: 'app', domain: 'oauth.bitrix.info',
        server_endpoint: `http://127.0.0.1:${oauth.port}/rest/`, client_endpoint: old.portal.endpoint,
        member_id: old.portal.memberId, user_id: old.user.id, status: 'L',
      });
    }
    send(res, 404, { error: 'NOT_FOUND', error_description: 'Not found' });
  }));

  async function portalRequest(portal: SimulatedPortal, req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url!, 'http://x');
    if (portal.web && !url.pathname.startsWith('/rest/')) return portal.web(req, res);
    const method = url.pathname.replace(/^\/rest\//, '').replace(/\.json$/, '').toLowerCase();
    const { fields } = await readBody(req);
    // A renamed portal: its old address answers 302 to the new one (reference §6).
    if (req.headers.host !== portal.domain) return send(res, 302, { error: 'moved' }, { location: `${portal.endpoint}${method}` });
    const delay = portal.delayNext.shift();
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const fault = portal.failNext.shift();
    if (fault) return send(res, fault.status, fault.body, fault.headers);
    const blocked = portalBlock(portal, method);
    if (blocked) return send(res, blocked.status, blocked.body);
    // Leaky bucket per portal (reference §6): one batch counts as one request.
    const now = performance.now();
    portal.bucket.level = Math.max(0, portal.bucket.level - ((now - portal.bucket.at) / 1000) * perSecond);
    portal.bucket.at = now;
    if (portal.bucket.level + 1 > burst + 1e-9) {
      portal.limitHits++;
      return send(res, 503, { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' });
    }
    portal.bucket.level += 1;
    portal.maxLevel = Math.max(portal.maxLevel, portal.bucket.level);

    const auth = String(url.searchParams.get('auth') ?? fields.auth ?? req.headers.authorization?.replace(/^Bearer /, '') ?? '');
    if (!auth) return send(res, 401, { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' });
    const t = access.get(auth);
    // A portal answers a token it does not know (made up, rotated away, another portal's) with NO_AUTH_FOUND.
    if (!t || t.portal !== portal) return send(res, 401, { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' });
    // Core rest/lib/oauth/auth.php checks the app's row before the token's expiry: an uninstalled app is refused.
    if (!portal.appActive) return send(res, 401, { error: 'APPLICATION_NOT_FOUND', error_description: 'Application not found' });
    const e = tokenError(t);
    if (e) return send(res, e.status, e.body);
    // Core rest/lib/oauth/auth.php: CRestUtil::makeAuth() fails for a user who is not active.
    if (t.user.active === false) return send(res, 401, { error: 'authorization_error', error_description: 'Unable to authorize user' });
    const params = { ...fields };
    delete params.auth;
    let out;
    try {
      out = withOperating(portal, method, callMethod(api, portal, t!.user, method, params, false));
    } catch (err) {
      if (!(err instanceof PhpFatal)) throw err;
      return send(res, 500, { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' });
    }
    send(res, out.status, out.body);
  }

  async function addPortal(
    p: { memberId?: string; adminUsers?: number; supportsSenderUpdate?: boolean; missingMethods?: string[]; web?: http.RequestListener } = {},
  ): Promise<SimulatedPortal> {
    const portal = {
      memberId: p.memberId ?? token(),
      installed: false,
      appActive: true,
      applicationToken: token(),
      users: [{ id: 1, admin: true }, { id: 2, admin: false }],
      senders: new Map(),
      events: [],
      statusUpdates: [],
      messages: new Map(),
      calls: [],
      limitHits: 0,
      maxLevel: 0,
      bucket: { level: 0, at: performance.now() },
      supportsSenderUpdate: p.supportsSenderUpdate ?? true,
      failNext: [],
      delayNext: [],
      purged: new Set(),
      crashingMessages: new Set(),
      shown: new Map(),
      missingMethods: new Set(p.missingMethods ?? []),
      siteStopped: false,
      overloaded: false,
      restUnavailable: false,
      timeLimited: new Set(),
      operatingResetAt: new Map(),
      eventQueueBlocked: false,
      eventDeliveries: [],
      web: p.web,
    } as unknown as SimulatedPortal;
    portal.close = async () => {};
    await serve(portal);
    portals.push(portal);
    return portal;
  }

  /** Starts a listener for the portal and makes it the portal's address; older addresses redirect to it. */
  async function serve(portal: SimulatedPortal) {
    // Its pages (the demo's) and REST answer only their own address: see ownHostOnly.
    const srv = await listen(ownHostOnly((req, res) => {
      portalRequest(portal, req, res).catch((err) => send(res, 500, { error: 'INTERNAL_SERVER_ERROR', error_description: String(err) }));
    }));
    portal.domain = `127.0.0.1:${srv.port}`;
    portal.endpoint = `http://${portal.domain}/rest/`;
    const previous = portal.close;
    portal.close = async () => {
      await Promise.all([previous(), srv.close()]);
    };
  }

  const api = {
    clientId,
    clientSecret,
    oauthUrl: `http://127.0.0.1:${oauth.port}`,
    addPortal,
    /** The portal moves to a new domain (a rename); the old one answers 302. */
    movePortal: serve,
    /** Tokens for a user of a portal, as Bitrix24 would put them in an install frame or event. */
    issueTokens: (portal: SimulatedPortal, userId = 1, issuedTo = clientId) => issue(portal, portal.users.find((u) => u.id === userId)!, issuedTo),
    /** Every access token of the portal now answers expired_token. */
    expireAccessTokens(portal: SimulatedPortal) {
      for (const t of access.values()) if (t.portal === portal) t.expired = true;
    },
    revokeRefreshTokens(portal: SimulatedPortal) {
      for (const [k, v] of refresh) if (v.portal === portal) refresh.delete(k);
    },
    /**
     * An administrator uninstalls the app (core AppTable::uninstall): its row is no longer active, the OAuth server is
     * told (unInstallApplication) and every token of the app for this portal dies, access and refresh alike (app.info
     * answers invalid_token, a refresh invalid_grant, the portal NO_AUTH_FOUND); its providers go with it (reference
     * §3). ONAPPUNINSTALL is queued, not sent: the cloud's event queue delivers it when it gets to it
     * (b24restdocs events/index.md), so the test decides when with `deliver()`, which posts it to the handlers bound
     * at the time of the uninstall. The application_token stays: a reinstall keeps the same row and token.
     */
    uninstallApp(portal: SimulatedPortal, o: { clean?: boolean } = {}) {
      const handlers = portal.events.filter((e) => e.event === 'ONAPPUNINSTALL').map((e) => e.handler);
      const ts = String(Math.floor(Date.now() / 1000));
      const body = new URLSearchParams({
        event: 'ONAPPUNINSTALL', event_handler_id: '17', ts,
        'data[LANGUAGE_ID]': 'en', 'data[CLEAN]': o.clean ? '1' : '0',
        'auth[domain]': portal.domain, 'auth[member_id]': portal.memberId, 'auth[application_token]': portal.applicationToken,
        'auth[server_endpoint]': `${api.oauthUrl}/rest/`, 'auth[client_endpoint]': portal.endpoint,
      }).toString();
      portal.installed = false;
      portal.appActive = false;
      portal.senders.clear();
      for (const [k, v] of access) if (v.portal === portal) access.delete(k);
      for (const [k, v] of refresh) if (v.portal === portal) refresh.delete(k);
      return {
        /** The queued event's form body, for a test that posts it itself (to an app that does not listen). */
        body,
        /** The queued ONAPPUNINSTALL, posted now (once per handler, never resent); how many were sent. */
        async deliver() {
          if (portal.eventQueueBlocked) return 0;
          for (const handler of handlers) {
            try {
              const res = await fetch(handler, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
              await res.text();
            } catch {
              // lost: the queue never resends
            }
          }
          return handlers.length;
        },
      };
    },
    /**
     * An administrator installs the app (again): core InstallApp makes its row active again, the same row and
     * application_token as before; it counts as installed once BX24.installFinish() runs (`finishInstall`).
     */
    installApp(portal: SimulatedPortal) {
      portal.appActive = true;
    },
    /**
     * What Bitrix24 does when a user sends an SMS through our provider: create the message (shown as sent at once),
     * then its queue POSTs it to the provider's HANDLER (reference §2). The handler's answer is read by nobody
     * (core sender/sms/rest.php), so it is not returned: a test sees what the CRM card shows, `portal.shown`.
     */
    async dispatchSms(
      portal: SimulatedPortal,
      m: { code: string; to: string; text: string; id?: string; withAuth?: boolean; authorId?: number; from?: 'crm' | 'bizproc' },
    ) {
      const sender = portal.senders.get(m.code);
      if (!sender) throw new Error(`no provider ${m.code} registered`);
      const id = m.id ?? nextMessageId();
      const author = portal.users.find((u) => u.id === (m.authorId ?? 1))!;
      portal.messages.set(id, { code: m.code, authorId: author.id });
      portal.shown.set(id, 'sent'); // Bitrix24 marks it sent on its side at once
      // The author's own short-lived token, as Bitrix24 issues it; never a refresh token.
      const auth = m.withAuth === false ? false : { access_token: issue(portal, author).accessToken, server_endpoint: `http://127.0.0.1:${oauth.port}/rest/`, user_id: String(author.id) };
      const body = smsForm({ portal, code: m.code, id, to: m.to, text: m.text, auth, from: m.from });
      try {
        const res = await fetch(sender.HANDLER, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
        await res.text();
      } catch {
        // the queue does not resend, and the CRM card keeps showing "sent"
      }
      return { id };
    },
    /**
     * An app update (core RestService::onRestAppUpdate): the app's providers are deleted and the portal gets a new
     * application token; ONAPPUPDATE is then delivered like any event. Returns the event's tokens.
     */
    updateApp(portal: SimulatedPortal) {
      portal.senders.clear();
      portal.applicationToken = token();
      return issue(portal, portal.users[0]!);
    },
    /**
     * BX24.installFinish() from the install page: the app counts as installed, and ONAPPINSTALL goes to the handlers
     * the install script bound, with the installer's tokens and the application_token (b24restdocs
     * events/safe-event-handlers.md: the first place the token is given; frames carry none, core app.layout).
     */
    finishInstall(portal: SimulatedPortal, userId = 1) {
      portal.installed = true;
      const t = issue(portal, portal.users.find((u) => u.id === userId)!);
      return api.deliverEvent(portal, 'ONAPPINSTALL', {
        data: { VERSION: '1', ACTIVE: 'Y', INSTALLED: 'Y', LANGUAGE_ID: 'en' },
        auth: {
          access_token: t.accessToken, refresh_token: t.refreshToken, expires_in: '3600', scope: 'messageservice', status: 'L',
          server_endpoint: `${api.oauthUrl}/rest/`, client_endpoint: portal.endpoint, user_id: String(userId),
        },
      });
    },
    /**
     * The cloud event queue: POSTs `event` to every handler bound for it, once, never before the app's
     * installation is finished (BX24.installFinish). Our answer is read by nobody. Returns how many were sent.
     */
    async deliverEvent(portal: SimulatedPortal, event: string, p: { data?: Record<string, string>; auth?: Record<string, string> } = {}) {
      if (!portal.installed || portal.eventQueueBlocked) return 0;
      const targets = portal.events.filter((e) => e.event === event.toUpperCase());
      for (const e of targets) {
        const body: Record<string, string> = { event: event.toUpperCase(), event_handler_id: '17', ts: String(Math.floor(Date.now() / 1000)) };
        for (const [k, v] of Object.entries(p.data ?? {})) body[`data[${k}]`] = v;
        const auth = { domain: portal.domain, member_id: portal.memberId, application_token: portal.applicationToken, ...p.auth };
        for (const [k, v] of Object.entries(auth)) body[`auth[${k}]`] = v;
        try {
          const res = await fetch(e.handler, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
          await res.text();
        } catch {
          // lost: the queue never resends
        }
      }
      return targets.length;
    },
    get refreshCount() {
      return refreshCount;
    },
    /** Refresh requests with a live refresh token that reached the server, answered or still held by the delay. */
    get refreshesReceived() {
      return refreshesReceived;
    },
    set refreshDelayMs(ms: number) {
      refreshDelayMs = ms;
    },
    /** Refresh requests that arrive from now on wait, counted in refreshesReceived, until the returned function runs. */
    holdRefreshes(): () => void {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      refreshHeld = held;
      return () => {
        if (refreshHeld === held) refreshHeld = undefined;
        release();
      };
    },
    /**
     * app.info as the OAuth server saw it: the tokens asked about in arrival order, the most ever answered at once,
     * and a hold: while `hold` is set, answers wait until `release` lets the oldest `n` go (all when n is omitted).
     */
    appInfo: {
      get received() {
        return appInfo.received;
      },
      get inFlight() {
        return appInfo.inFlight;
      },
      get maxInFlight() {
        return appInfo.maxInFlight;
      },
      set hold(on: boolean) {
        appInfo.hold = on;
      },
      release(n = appInfo.held.length) {
        for (const r of appInfo.held.splice(0, n)) r();
      },
    },
    async close() {
      await Promise.all([oauth.close(), ...portals.map((p) => p.close())]);
    },
  };
  return api;
}

export type SimulatedBitrix24 = Awaited<ReturnType<typeof startSimulatedBitrix24>>;
