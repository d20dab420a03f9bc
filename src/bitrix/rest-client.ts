import qs from 'qs';
import type { Dispatcher } from 'undici';
import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { certificateErrorCode, httpRequest, networkErrorCode } from '../platform/http.js';
import { GATEWAY_ADDRESS_FORBIDDEN } from '../platform/address-guard.js';
import { B24Error, CERT_UNTRUSTED, PAUSING, PORTAL_PAUSED, REFRESH_AND_RETRY, TOKEN_EXPIRED, errorFromBody } from './errors.js';
import { createPausing, memoryPauses, type PausePolicy, type PauseStore } from './pauses.js';
import type { Limiter } from './limiter.js';
import type { OAuthClient } from './oauth.js';
import type { TokenRefresher } from './token-refresher.js';
import type { StoredPortal, TokenStore } from './token-store.js';

export interface RestCallOutcome {
  method: string;
  outcome: 'ok' | 'error' | 'retry' | 'refresh' | 'paused';
}

/** Where a call goes: the portal's verified REST endpoint (and our portal id, when we have one). */
export interface Target {
  endpoint: string;
  memberId: string;
  portalId?: number;
}

export interface BatchCommand {
  method: string;
  params?: Record<string, unknown>;
}

export type BatchResult =
  | { ok: true; result: unknown }
  | { ok: false; error: string; description: string };

const BATCH_MAX = 50; // reference §6: ERROR_BATCH_LENGTH_EXCEEDED beyond 50 commands
const NOT_NOW = new Set([...PAUSING, PORTAL_PAUSED, CERT_UNTRUSTED]);
const MAX_REDIRECTS = 3;

/** A request's fate: Bitrix24's result, Bitrix24's error answer, or no usable answer at all (network, redirect). */
type Answer = { kind: 'result'; result: unknown } | { kind: 'b24_error'; error: B24Error } | { kind: 'no_answer'; error: B24Error };

/**
 * Calls a portal's REST API with its stored token: pacing through the per-portal limiter,
 * refreshing an expired token once, backing off on rate limits and 5xx, following a moved portal.
 */
export function createRestClient(deps: {
  portals: TokenStore;
  refresher: TokenRefresher;
  oauth: Pick<OAuthClient, 'appInfo'>;
  limiter: Limiter;
  /** For portals' endpoints; with `forPortal` (the address guard's), each portal's own agent. */
  dispatcher: Dispatcher & { forPortal?: (portalId: number) => Dispatcher };
  timeoutMs: number;
  clock: Clock;
  log: Log;
  retries?: number;
  backoffMs?: (attempt: number) => number;
  sleep?: (ms: number) => Promise<void>;
  onCall?: (o: RestCallOutcome) => void;
  /** Portals and methods Bitrix24 asked us to leave alone for a while (pauses.ts); the database in production. */
  pauses?: PauseStore;
  pausePolicy?: PausePolicy;
}) {
  const retries = deps.retries ?? 4;
  const backoffMs = deps.backoffMs ?? ((n: number) => Math.min(1000 * 2 ** n, 16_000));
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  /** A portal's calls go through its own agent (its name lookups wait on its own slot), others' through the shared one. */
  const httpFor = (portalId: number | undefined) => ({
    dispatcher: portalId !== undefined && deps.dispatcher.forPortal ? deps.dispatcher.forPortal(portalId) : deps.dispatcher,
    timeoutMs: deps.timeoutMs,
  });
  const note = (method: string, outcome: RestCallOutcome['outcome']) => deps.onCall?.({ method, outcome });
  const pausing = createPausing({ store: deps.pauses ?? memoryPauses(), policy: deps.pausePolicy, clock: deps.clock, log: deps.log });

  /**
   * Calls a portal's REST API with its stored tokens (refreshing them once when they expired). `retries` (default: the
   * client's) bounds the retries of retryable errors, for a caller that must answer within a request of its own.
   */
  async function call<T = unknown>(portalId: number, method: string, params: Record<string, unknown> = {}, opts: { retries?: number } = {}): Promise<T> {
    const mayRetry = retryBudget(method, portalId, opts.retries);
    let refreshed = false;
    let superseded = 0;
    for (;;) {
      // Read again on every pass: a refresh stores new tokens, a redirect a new endpoint.
      const { portal, accessToken } = await openPortal(portalId);
      // While Bitrix24 asked us to leave the portal (or this method) alone, the call is refused here, retryable.
      const { known, refused } = await pausing.gate(portalId, method);
      if (refused) {
        note(method, 'paused');
        throw refused;
      }
      const answer = await exchange({ portalId, endpoint: portal.restEndpoint, memberId: portal.memberId }, accessToken, method, params);
      if (answer.kind === 'result') {
        await noteUse(portalId, portal);
        if (known.length) await pausing.resume(portalId, known);
        return answer.result as T;
      }
      if (answer.kind === 'b24_error' && REFRESH_AND_RETRY.has(answer.error.code) && !refreshed) {
        refreshed = true; // once per call, and not counted as a retry
        await refresh(portalId, method, accessToken);
        continue;
      }
      if (answer.kind === 'b24_error' && PAUSING.has(answer.error.code)) {
        const givenUp = await pausing.record(portalId, method, answer.error, known);
        if (givenUp?.kind === 'terminal') await inactivateIfTerminal(portalId, method, givenUp, accessToken);
        throw failed(method, givenUp ?? answer.error);
      }
      // Only Bitrix24's own answer can end the portal; a call that got no answer never does.
      const error = answer.kind === 'b24_error' ? terminalFor(answer.error, refreshed) : answer.error;
      if (error.kind === 'terminal' && !(await inactivateIfTerminal(portalId, method, error, accessToken))) {
        // Another process stored other tokens meanwhile (its refresh, a reinstall): the answer was about the old ones.
        if (superseded++ < 2) continue;
      }
      if (await mayRetry(error)) continue;
      throw failed(method, error);
    }
  }

  /**
   * Calls with somebody else's access token (the viewer of a frame page, the author of an event) at an endpoint
   * the caller has verified: no refresh (we hold no refresh token of theirs), nothing stored about the portal's state.
   */
  async function callAs<T = unknown>(target: Target, accessToken: string, method: string, params: Record<string, unknown> = {}): Promise<T> {
    const mayRetry = retryBudget(method, target.portalId);
    for (;;) {
      const answer = await exchange(target, accessToken, method, params);
      if (answer.kind === 'result') return answer.result as T;
      if (await mayRetry(answer.error)) continue;
      throw failed(method, answer.error);
    }
  }

  /** The portal gate and token source: only an active portal with stored tokens is called. */
  async function openPortal(portalId: number): Promise<{ portal: StoredPortal; accessToken: string }> {
    const portal = await deps.portals.findById(portalId);
    if (!portal) throw new B24Error('PORTAL_UNKNOWN', `no portal ${portalId}`, 'permanent');
    if (portal.status === 'uninstalled') throw new B24Error('PORTAL_UNINSTALLED', 'the app is uninstalled from this portal', 'permanent');
    if (portal.status !== 'active') throw new B24Error('PORTAL_INACTIVE', portal.inactiveReason ?? `portal is ${portal.status}`, 'terminal');
    const tokens = await deps.portals.tokens(portalId);
    if (!tokens) throw new B24Error('NO_TOKENS', 'the portal has no stored tokens; reinstall the app', 'terminal');
    return { portal, accessToken: tokens.accessToken };
  }

  /** Written at most once a minute: the token keeper only needs to know which portals went idle. */
  async function noteUse(portalId: number, portal: StoredPortal) {
    const now = deps.clock();
    if (!portal.lastRestCallAt || now - portal.lastRestCallAt > 60_000) await deps.portals.touchRestCall(portalId, now);
  }

  /** Replaces the token the portal refused (single-flight across callers and processes, see token-refresher.ts). */
  async function refresh(portalId: number, method: string, refusedToken: string) {
    note(method, 'refresh');
    await deps.refresher.refresh(portalId, refusedToken);
  }

  /** NO_AUTH_FOUND for a token just refreshed is terminal: the app is gone from that portal (reference §5). */
  const terminalFor = (err: B24Error, refreshed: boolean) =>
    refreshed && err.code === 'NO_AUTH_FOUND' ? new B24Error(err.code, err.description, 'terminal', err.httpStatus) : err;

  /**
   * A terminal error makes the portal inactive, so later calls are refused here instead of hammering Bitrix24; only
   * while the portal still holds the token that was refused. False when it holds other tokens now (another
   * process's refresh, an uninstall and a reinstall during the call): the answer says nothing about those.
   */
  async function inactivateIfTerminal(portalId: number, method: string, error: B24Error, refusedAccessToken: string): Promise<boolean> {
    if (await deps.portals.markInactive(portalId, `${error.code}: ${error.description}`, deps.clock(), { refusedAccessToken })) {
      deps.log.warn({ portalId, method, error: error.code }, 'b24.portal.inactive');
      return true;
    }
    const stored = await deps.portals.tokens(portalId);
    return !stored || stored.accessToken === refusedAccessToken;
  }

  /** Up to `max` retries of retryable errors per call, each after its back-off; false once they are used up. */
  function retryBudget(method: string, portalId: number | undefined, max = retries) {
    let attempt = 0;
    return async (error: B24Error): Promise<boolean> => {
      // A pause or an untrusted certificate lasts far longer than a call may wait: the caller's back-off takes it.
      if (error.kind !== 'retryable' || NOT_NOW.has(error.code) || attempt >= max) return false;
      note(method, 'retry');
      deps.log.info({ portalId, method, error: error.code, attempt }, 'b24.rest.retry');
      await sleep(backoffMs(attempt));
      attempt++;
      return true;
    };
  }

  const failed = (method: string, error: B24Error) => {
    note(method, 'error');
    return error;
  };

  /** One paced request and what came of it. */
  async function exchange(target: Target, accessToken: string, method: string, params: Record<string, unknown>): Promise<Answer> {
    await deps.limiter.acquire(target.portalId ?? target.endpoint);
    let res;
    try {
      res = await post(target, method, accessToken, { ...params, auth: accessToken });
    } catch (err) {
      // The OAuth server refused the token we confirmed a renamed portal's new address with: refreshed like the portal's own refusal.
      if (err instanceof B24Error && TOKEN_EXPIRED.has(err.code)) return { kind: 'b24_error', error: err };
      const cert = certificateErrorCode(err);
      const error = err instanceof B24Error ? err
        : (err as { code?: string } | null)?.code === GATEWAY_ADDRESS_FORBIDDEN ? addressForbidden(err as { host?: string }, target)
        : cert ? new B24Error(CERT_UNTRUSTED, `the portal's certificate is not trusted (${cert})`, 'retryable')
        : new B24Error('NETWORK', `portal unreachable (${networkErrorCode(err) ?? 'error'})`, 'retryable');
      return { kind: 'no_answer', error };
    }
    const body = res.json as { result?: unknown; error?: string; time?: unknown } | undefined;
    if (res.status === 200 && body && 'result' in body && !body.error) {
      note(method, 'ok');
      if (target.portalId !== undefined) pausing.noteTime(target.portalId, method, body.time);
      return { kind: 'result', result: body.result };
    }
    return { kind: 'b24_error', error: errorFromBody(body, res.status) };
  }

  /**
   * POST with a JSON body; a 302 (renamed portal) is POSTed again to its Location, never turned into a GET. The
   * access token travels in the body, so a redirect to another host is followed only when the OAuth server says
   * that host is now this portal's (app.info for the same token names it and the same member_id).
   */
  async function post(target: Target, method: string, accessToken: string, body: Record<string, unknown>) {
    let url = `${target.endpoint}${method}`;
    for (let hop = 0; ; hop++) {
      const res = await httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, httpFor(target.portalId));
      const location = res.headers.location;
      if (![301, 302, 307, 308].includes(res.status) || typeof location !== 'string' || hop >= MAX_REDIRECTS) return res;
      const next = new URL(location, url);
      const moved = endpointOf(next.toString());
      if (!moved || !/^https?:$/.test(next.protocol)) throw new B24Error('REDIRECT_REFUSED', 'the portal redirected to an address that is not a REST endpoint', 'permanent');
      // The token travels in the body: never from https down to plain http.
      if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') throw new B24Error('REDIRECT_REFUSED', 'the portal redirected from https to http', 'permanent');
      if (next.host.toLowerCase() !== new URL(url).host.toLowerCase()) {
        const info = await deps.oauth.appInfo(accessToken);
        if (info.memberId !== target.memberId || info.domain?.toLowerCase() !== next.host.toLowerCase()) {
          deps.log.warn({ portalId: target.portalId, to: next.host }, 'b24.redirect.refused');
          throw new B24Error('REDIRECT_REFUSED', 'the portal redirected to a host the authorization server does not confirm', 'permanent');
        }
        if (target.portalId !== undefined) {
          await deps.portals.moveEndpoint(target.portalId, moved.endpoint, moved.domain, deps.clock());
          deps.log.info({ portalId: target.portalId, domain: moved.domain }, 'b24.portal.moved');
        }
      }
      url = next.toString();
    }
  }

  /** Up to 50 commands per `batch` call; one result (or error) per command, in order. */
  async function batch(portalId: number, commands: BatchCommand[]): Promise<BatchResult[]> {
    return batched(commands, (params) => call(portalId, 'batch', params));
  }

  /** `batch` with somebody else's token (a message's author), like callAs: no refresh, nothing stored. */
  async function batchAs(target: Target, accessToken: string, commands: BatchCommand[]): Promise<BatchResult[]> {
    return batched(commands, (params) => callAs(target, accessToken, 'batch', params));
  }

  async function batched(commands: BatchCommand[], send: (params: Record<string, unknown>) => Promise<unknown>): Promise<BatchResult[]> {
    const out: BatchResult[] = [];
    for (let i = 0; i < commands.length; i += BATCH_MAX) {
      const chunk = commands.slice(i, i + BATCH_MAX);
      const cmd = Object.fromEntries(chunk.map((c, j) => [`c${j}`, `${c.method}?${qs.stringify(c.params ?? {})}`]));
      const res = (await send({ halt: 0, cmd })) as { result?: unknown; result_error?: unknown } | undefined;
      // PHP encodes an empty map as [], so either shape may come back.
      const results = (res?.result ?? {}) as Record<string, unknown>;
      const errors = (res?.result_error ?? {}) as Record<string, { error?: string; error_description?: string }>;
      chunk.forEach((_, j) => {
        const key = `c${j}`;
        const e = errors[key];
        if (e) out.push({ ok: false, error: e.error ?? 'UNKNOWN', description: e.error_description ?? '' });
        else if (key in results) out.push({ ok: true, result: results[key] });
        else out.push({ ok: false, error: 'NO_RESULT', description: 'batch answered nothing for this command' });
      });
    }
    return out;
  }

  return { call, callAs, batch, batchAs };
}

/** "https://new.bitrix24.ru/rest/method" → endpoint "https://new.bitrix24.ru/rest/" and its domain. */
function endpointOf(url: string): { endpoint: string; domain: string } | undefined {
  const u = new URL(url);
  const i = u.pathname.indexOf('/rest/');
  if (i < 0) return undefined;
  return { endpoint: `${u.origin}${u.pathname.slice(0, i + 6)}`, domain: u.host };
}

export type RestClient = ReturnType<typeof createRestClient>;

/** The code of a call refused before it left: the portal's name resolves to an address this service does not call. */
export const PORTAL_ADDRESS_FORBIDDEN = 'PORTAL_ADDRESS_FORBIDDEN';

/**
 * Permanent: trying again would only ask again. The operator of a single-company deployment whose on-premise Bitrix24
 * sits on its own network allows it with ALLOW_PRIVATE_PORTALS=1.
 */
function addressForbidden(err: { host?: string }, target: Target) {
  let host = err.host ?? target.endpoint; // the host refused (a redirect's, say), else the portal's
  if (!err.host) {
    try {
      host = new URL(target.endpoint).host;
    } catch { /* shown as stored */ }
  }
  return new B24Error(PORTAL_ADDRESS_FORBIDDEN, `the portal's address ${host} is not a public one; this service calls no loopback, private or link-local address`, 'permanent');
}
