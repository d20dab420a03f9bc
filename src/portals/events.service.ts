import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import type { OAuthClient } from '../bitrix/oauth.js';
import type { TokenPair, PortalRepo } from './portal-repo.js';
import type { ProviderRegistry } from './providers.js';
import { verifyAccessToken } from './verify.js';

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
  portals: PortalRepo;
  providers: ProviderRegistry;
  clock: Clock;
  log: Log;
}) {
  /**
   * Install and update events may carry a new application_token, so they are proven at the OAuth
   * server: app.info with their access token, or, when that token has already expired (events can
   * arrive late), a successful refresh with their refresh token, which only our client secret makes work.
   * Returns the pair to store (the refreshed one when a refresh happened: the event's pair is dead then).
   */
  async function verifyWithTokens(a: EventAuth): Promise<TokenPair> {
    if (!a.accessToken || !a.refreshToken || !a.memberId || !a.domain) throw rejected('the event carries no tokens');
    const expiresAt = deps.clock() + (a.expiresIn ?? 3600) * 1000;
    try {
      await verifyAccessToken(deps.oauth, { accessToken: a.accessToken, memberId: a.memberId, domain: a.domain, requireInstalled: false });
      return { accessToken: a.accessToken, refreshToken: a.refreshToken, expiresAt };
    } catch (err) {
      const expired = err instanceof AppError && err.details?.b24Error === 'expired_token';
      if (!expired) throw err;
    }
    let refreshed;
    try {
      refreshed = await deps.oauth.refresh(a.refreshToken);
    } catch {
      throw rejected('the event token expired and its refresh token was refused');
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
      return u.host.toLowerCase() === a.domain!.toLowerCase() ? a.clientEndpoint : fallback;
    } catch {
      return fallback;
    }
  }

  async function onInstallOrUpdate(event: 'ONAPPINSTALL' | 'ONAPPUPDATE', a: EventAuth) {
    const tokens = await verifyWithTokens(a);
    const portal = await deps.portals.upsertInstalled({
      memberId: a.memberId!,
      domain: a.domain!.toLowerCase(),
      restEndpoint: restEndpointFor(a),
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
