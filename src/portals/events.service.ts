import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { B24Error } from '../bitrix/errors.js';
import type { OAuthClient } from '../bitrix/oauth.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { TokenPair, PortalRepo } from './portal-repo.js';
import type { ProviderRegistry } from './providers.js';
import { verifyAccessToken } from './verify.js';
import { identifyViewer } from './viewer.js';

export interface EventAuth {
  accessToken?: string;
  refreshToken?: string;
  expiresIn?: number;
  applicationToken?: string;
  memberId?: string;
  domain?: string;
  clientEndpoint?: string;
}

const rejected = (why: string) => new AppError('unauthorized', 401, why);

/** ONAPPINSTALL, ONAPPUPDATE and ONAPPUNINSTALL: verified before anything changes. */
export function createEventsService(deps: {
  oauth: OAuthClient;
  rest: RestClient;
  portals: PortalRepo;
  providers: ProviderRegistry;
  clock: Clock;
  log: Log;
}) {
  /**
   * Install and update events carry a new application_token, so they are proven at the OAuth server (app.info
   * for their access token) and their refresh token is proven by using it: the pair stored is the one that
   * refresh returned, never one taken on trust. An event whose access token already expired (events can arrive
   * late) is proven by that same refresh, which only our client secret makes work.
   */
  async function proveTokens(a: EventAuth): Promise<TokenPair> {
    if (!a.accessToken || !a.refreshToken || !a.memberId || !a.domain) throw rejected('the event carries no tokens');
    try {
      await verifyAccessToken(deps.oauth, { accessToken: a.accessToken, memberId: a.memberId, domain: a.domain, requireInstalled: false });
    } catch (err) {
      const expired = err instanceof AppError && err.details?.b24Error === 'expired_token';
      if (!expired) throw err;
    }
    let refreshed;
    try {
      refreshed = await deps.oauth.refresh(a.refreshToken);
    } catch (err) {
      if (err instanceof B24Error && err.kind === 'retryable') throw new AppError('oauth_unavailable', 503, 'the Bitrix24 authorization server could not be reached');
      throw rejected('the refresh token of the event was refused');
    }
    // The refreshed token must still name the same portal.
    await verifyAccessToken(deps.oauth, { accessToken: refreshed.accessToken, memberId: a.memberId, domain: a.domain, requireInstalled: false });
    return refreshed;
  }

  function restEndpointFor(a: EventAuth): string {
    const fallback = `https://${a.domain}/rest/`;
    if (!a.clientEndpoint) return fallback;
    try {
      const u = new URL(a.clientEndpoint);
      return u.host.toLowerCase() === a.domain!.toLowerCase() && /^https?:$/.test(u.protocol) ? a.clientEndpoint : fallback;
    } catch {
      return fallback;
    }
  }

  /**
   * Any user of a portal can get a genuine access token by opening the app, so a valid token proves only the
   * portal. The event is taken only from an administrator (Bitrix24 sends install and update events with the
   * installing administrator's auth): otherwise a portal user could post an ONAPPUPDATE with an application_token
   * of their choosing and then forge SMS and uninstall events.
   */
  async function onInstallOrUpdate(event: 'ONAPPINSTALL' | 'ONAPPUPDATE', a: EventAuth) {
    const tokens = await proveTokens(a);
    const restEndpoint = restEndpointFor(a);
    const existing = await deps.portals.findByMemberId(a.memberId!);
    const viewer = await identifyViewer(deps.rest, { endpoint: restEndpoint, memberId: a.memberId!, portalId: existing?.id }, tokens.accessToken);
    if (!viewer.admin) {
      deps.log.warn({ portalId: existing?.id, event, userId: viewer.userId }, 'portal.event.not_admin');
      throw new AppError('forbidden', 403, 'the event was not sent with an administrator\'s authorization');
    }
    const portal = await deps.portals.upsertInstalled({
      memberId: a.memberId!,
      domain: a.domain!.toLowerCase(),
      restEndpoint,
      tokens,
      applicationToken: a.applicationToken,
      now: deps.clock(),
    });
    const log = deps.log.child({ portalId: portal.id, event });
    log.info('portal.event.accepted');
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

  /** Uninstall carries no access token (REST access is already revoked): verify the stored application_token. */
  async function onUninstall(a: EventAuth, clean: boolean) {
    if (!a.memberId || !a.applicationToken) throw rejected('the event carries no application_token');
    const portal = await deps.portals.findByMemberId(a.memberId);
    if (!portal || !(await deps.portals.matchesApplicationToken(portal.id, a.applicationToken))) {
      throw rejected('unknown portal or wrong application_token');
    }
    await deps.portals.markUninstalled(portal.id, clean, deps.clock());
    deps.log.info({ portalId: portal.id, clean }, 'portal.uninstalled');
  }

  return { onInstallOrUpdate, onUninstall };
}

export type EventsService = ReturnType<typeof createEventsService>;
