import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { safeEqual } from '../platform/crypto.js';
import { B24Error } from '../bitrix/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { TokenPair, PortalRepo } from './portal-repo.js';
import type { ProviderRegistry } from './providers.js';
import type { ConnectionCheck } from './connection-check.js';
import type { ProviderCheck } from './provider-check.js';
import { isGateRefusal, TokenRejected, type TokenChecks } from './verify.js';
import { identifyViewer } from './viewer.js';

export interface EventAuth {
  accessToken?: string;
  refreshToken?: string;
  expiresIn?: number;
  applicationToken?: string;
  memberId?: string;
  domain?: string;
  clientEndpoint?: string;
  /** The address the event came from (req.ip): whose share of the OAuth checks it uses. */
  from: string;
}

const rejected = (why: string) => new AppError('unauthorized', 401, why);
/** How often an app update without tokens may make us register a portal's providers again. */
const UPDATE_RECHECK_MS = 60_000;

/** ONAPPINSTALL, ONAPPUPDATE and ONAPPUNINSTALL: verified before anything changes. */
export function createEventsService(deps: {
  tokenChecks: TokenChecks;
  rest: RestClient;
  portals: PortalRepo;
  providers: ProviderRegistry;
  /** The provider check, run at once for an app update without tokens. */
  providerCheck: Pick<ProviderCheck, 'checkNow'>;
  /** Where an ONAPPTEST (the settings page's connection check) is recorded. */
  connection: Pick<ConnectionCheck, 'arrived'>;
  clock: Clock;
  log: Log;
}) {
  /**
   * An event's refresh token is stored only once a refresh with it worked; the pair stored is the one refresh
   * returned (the event's own pair dies with it). When the event carries the stored pair's own refresh token, the
   * refresh rotates the stored chain: it holds the portal's refresh lease, like every other refresh of it (taken once
   * the OAuth checks' gate lets it go, so a wait in line holds no refresh up), and the new pair is this portal's
   * whatever the event turns out to be, so it is kept at once (dropping it would leave a used-up refresh token
   * stored). Any other refresh token starts a chain of its own and takes no lease: the event is not proven yet, and
   * whoever names a portal must not be able to hold its refreshes up; its pair must name the same portal.
   * Undefined: refused, or another refresh of the same chain is running; the stored pair is kept then. A refusal of
   * the gate is thrown (nothing was asked).
   */
  async function provenPair(a: EventAuth, portalId: number | undefined): Promise<{ pair: TokenPair; leased: boolean } | undefined> {
    const stored = portalId !== undefined ? await deps.portals.tokens(portalId) : undefined;
    const leased = stored !== undefined && safeEqual(stored.refreshToken, a.refreshToken!);
    try {
      return await deps.tokenChecks.inTurn(a.from, async (ask) => {
        if (leased && !(await deps.portals.takeRefreshLease(portalId!, deps.clock(), 30_000))) return undefined;
        let pair: TokenPair;
        try {
          pair = await ask.refresh(a.refreshToken!);
        } catch (err) {
          if (leased) await deps.portals.releaseRefreshLease(portalId!);
          throw err;
        }
        if (leased) {
          await deps.portals.saveTokens(portalId!, pair, deps.clock()); // frees the lease too
          return { pair, leased };
        }
        await ask.verify({ accessToken: pair.accessToken, memberId: a.memberId!, domain: a.domain, requireInstalled: false });
        return { pair, leased };
      });
    } catch (err) {
      if (isGateRefusal(err)) throw err;
      if (!(err instanceof B24Error) && !(err instanceof AppError)) throw err;
      deps.log.warn({ portalId, error: err.code }, 'portal.event.refresh_refused');
      return undefined;
    }
  }

  /** The event's access token at the OAuth server: true when valid, false when it expired (events arrive late). */
  async function accessTokenValid(a: EventAuth): Promise<boolean> {
    try {
      await deps.tokenChecks.verify(a.from, { accessToken: a.accessToken!, memberId: a.memberId!, domain: a.domain, requireInstalled: false });
      return true;
    } catch (err) {
      if (err instanceof TokenRejected && err.b24Code === 'expired_token') return false;
      throw err;
    }
  }

  /** The event's own REST endpoint, when it is the verified domain's `/rest/`; otherwise the domain's https one. */
  function restEndpointFor(a: EventAuth): string {
    const fallback = `https://${a.domain}/rest/`;
    if (!a.clientEndpoint) return fallback;
    try {
      const u = new URL(a.clientEndpoint);
      const own = u.host.toLowerCase() === a.domain!.toLowerCase() && /^https?:$/.test(u.protocol) && u.pathname === '/rest/' && !u.search && !u.username;
      return own ? `${u.protocol}//${u.host}/rest/` : fallback;
    } catch {
      return fallback;
    }
  }

  /**
   * Any user of a portal can get a genuine access token by opening the app, so a valid token proves only the
   * portal. The event is taken only from an administrator (Bitrix24 sends install and update events with the
   * installing administrator's auth), asked with the event's own access token: otherwise a portal user could post
   * an ONAPPUPDATE with an application_token of their choosing and then forge SMS and uninstall events. A late event
   * whose access token expired is proven by a refresh (only our client secret makes that work).
   */
  async function onInstallOrUpdate(event: 'ONAPPINSTALL' | 'ONAPPUPDATE', a: EventAuth): Promise<{ registered: string[]; error?: string }> {
    if (event === 'ONAPPUPDATE' && !a.accessToken && !a.refreshToken) return onUpdateWithoutTokens(a);
    if (!a.accessToken || !a.refreshToken || !a.memberId || !a.domain) throw rejected('the event carries no tokens');
    const restEndpoint = restEndpointFor(a);
    const existing = await deps.portals.findByMemberId(a.memberId);
    let proven: Awaited<ReturnType<typeof provenPair>>;
    let accessToken = a.accessToken;
    if (!(await accessTokenValid(a))) {
      proven = await provenPair(a, existing?.id);
      if (!proven) throw rejected('the event token expired and its refresh token was refused');
      accessToken = proven.pair.accessToken;
    }
    const viewer = await identifyViewer(deps.rest, { endpoint: restEndpoint, memberId: a.memberId, portalId: existing?.id }, accessToken);
    if (!viewer.admin) {
      deps.log.warn({ portalId: existing?.id, event, userId: viewer.userId }, 'portal.event.not_admin');
      throw new AppError('forbidden', 403, 'the event was not sent with an administrator\'s authorization');
    }
    if (!proven) {
      try {
        proven = await provenPair(a, existing?.id);
      } catch (err) {
        // The event is proven already: a busy gate only means no new pair this time, when there is a stored one.
        if (!isGateRefusal(err) || !(existing && (await deps.portals.tokens(existing.id)))) throw err;
        deps.log.warn({ portalId: existing.id, event }, 'portal.event.refresh_deferred');
      }
    }
    const tokens = proven?.pair;
    // A genuine event whose refresh token did not work still brings Bitrix24's new application_token; without a
    // stored pair there is nothing to call Bitrix24 with, though.
    if (!tokens && !(existing && (await deps.portals.tokens(existing.id)))) throw rejected('the refresh token of the event was refused');
    const portal = await deps.portals.upsertInstalled({
      memberId: a.memberId,
      domain: a.domain.toLowerCase(),
      restEndpoint,
      tokens,
      applicationToken: a.applicationToken,
      now: deps.clock(),
    });
    const log = deps.log.child({ portalId: portal.id, event });
    log.info({ tokensStored: tokens !== undefined }, 'portal.event.accepted');
    if (event === 'ONAPPINSTALL' && existing?.status === 'uninstalled') {
      // An uninstall that was honoured rotated the handler key and left every sender unregistered, while Bitrix24
      // kept calling the old key: registered again now, not at the next scheduled provider check (up to an hour of
      // refused SMS). Best effort: the scheduled check still repairs what this could not.
      const checked = await deps.providerCheck.checkNow(portal.id, 0).catch((err) => ({ registered: [] as string[], error: String((err as { code?: string }).code ?? err) }));
      if (checked?.error) log.warn({ error: checked.error }, 'provider.reregister_failed');
      return { registered: checked?.registered ?? [] };
    }
    if (event !== 'ONAPPUPDATE') return { registered: [] as string[] };
    // Bitrix24 deletes an app's providers when the app is updated (reference §3): register them again.
    try {
      const registered = await deps.providers.registerAll(portal.id);
      await deps.providers.bindEvents(portal.id);
      return { registered };
    } catch (err) {
      log.error({ error: (err as { code?: string }).code ?? String(err) }, 'provider.reregister_failed');
      return { registered: [] as string[], error: 'providers could not be registered again' };
    }
  }

  /**
   * An app update that Bitrix24 could not link to a user comes without tokens (b24restdocs on-app-update.md: the auth
   * block has access and refresh tokens only "if the event could be linked to a user"), and Bitrix24 deleted the
   * app's providers as it updated it (core messageservice RestService::onRestAppUpdate): the portal's provider check
   * runs at once with its stored tokens (sender.list first: nothing is written while the providers are there),
   * rather than at the next scheduled one (up to an hour without SMS in CRM). Nothing of the event is stored (its
   * application_token may be new and cannot be proven without a token), so it needs no proof: whoever sends one only
   * makes us check a known portal's providers, shared by every process at most once a minute.
   */
  async function onUpdateWithoutTokens(a: EventAuth): Promise<{ registered: string[]; error?: string }> {
    if (!a.memberId) throw rejected('the event carries no member_id');
    const portal = await deps.portals.findByMemberId(a.memberId);
    if (!portal || portal.status === 'uninstalled') throw rejected('unknown portal');
    deps.log.info({ portalId: portal.id, event: 'ONAPPUPDATE' }, 'portal.event.update_without_tokens');
    const checked = await deps.providerCheck.checkNow(portal.id, UPDATE_RECHECK_MS);
    if (checked?.error) return { registered: checked.registered, error: 'providers could not be registered again' };
    return { registered: checked?.registered ?? [] };
  }

  /**
   * Uninstall carries no access token (REST access is already revoked): verify the stored application_token. The
   * cloud's event queue may deliver it late (b24restdocs events/index.md), after the administrator installed the app
   * again, and the token then still matches: a reinstall keeps the app's b_rest_app row and with it the token (core
   * CRestUtil::getApplicationToken, InstallApp). So a portal that holds tokens asks Bitrix24 first: only when it
   * answers that the app is installed is the event stale. Any other outcome (the token refused, as every token of an
   * uninstalled app is, core oauth/auth.php APPLICATION_NOT_FOUND; no answer) honours it: a real uninstall must take
   * effect, and the marketplace requires that we then keep nothing.
   */
  async function onUninstall(a: EventAuth, clean: boolean) {
    if (!a.memberId || !a.applicationToken) throw rejected('the event carries no application_token');
    const portal = await deps.portals.findByMemberId(a.memberId);
    if (!portal || !(await deps.portals.matchesApplicationToken(portal.id, a.applicationToken))) {
      throw rejected('unknown portal or wrong application_token');
    }
    if (await installedInBitrix24(portal.id)) {
      deps.log.info({ portalId: portal.id, clean }, 'event.uninstall.stale');
      return;
    }
    await deps.portals.markUninstalled(portal.id, clean, deps.clock());
    deps.log.info({ portalId: portal.id, clean }, 'portal.uninstalled');
  }

  /**
   * app.info at the portal with its stored tokens (refreshed once if expired, as every call): true only for an answer
   * that the app is installed. One attempt, no retries: Bitrix24's queue waits for our answer, and no answer means
   * the uninstall goes ahead anyway.
   */
  async function installedInBitrix24(portalId: number): Promise<boolean> {
    if (!(await deps.portals.tokens(portalId))) return false;
    try {
      const info = await deps.rest.call<{ INSTALLED?: unknown } | undefined>(portalId, 'app.info', {}, { retries: 0 });
      return info?.INSTALLED === true;
    } catch (err) {
      deps.log.info({ portalId, error: (err as { code?: string }).code ?? 'internal' }, 'event.uninstall.app_info_refused');
      return false;
    }
  }

  /**
   * ONAPPTEST, asked for by the settings page's connection check (event.test). Proven like every event Bitrix24
   * sends for a portal: its application_token, compared in constant time with the stored one.
   */
  async function onAppTest(a: EventAuth, nonce: string | undefined) {
    if (!a.memberId || !a.applicationToken) throw rejected('the event carries no application_token');
    const portal = await deps.portals.findByMemberId(a.memberId);
    if (!portal || portal.status === 'uninstalled' || !(await deps.portals.matchesApplicationToken(portal.id, a.applicationToken))) {
      throw rejected('unknown portal or wrong application_token');
    }
    return { matched: await deps.connection.arrived(portal.id, nonce) };
  }

  return { onInstallOrUpdate, onUninstall, onAppTest };
}

export type EventsService = ReturnType<typeof createEventsService>;
