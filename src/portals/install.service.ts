import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import type { OAuthClient } from '../bitrix/oauth.js';
import type { PortalRepo, Portal } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { senderCode, type ProviderRegistry } from './providers.js';
import { verifyAccessToken } from './verify.js';

export interface FrameAuth {
  authId: string;
  authExpires?: number;
  refreshId: string;
  memberId: string;
  applicationToken?: string;
  domain: string;
  https: boolean;
}

/** The install story: verify the frame's token, store the portal, then save settings and register providers. */
export function createInstallService(deps: {
  oauth: OAuthClient;
  portals: PortalRepo;
  settings: SettingsRepo;
  providers: ProviderRegistry;
  clock: Clock;
  log: Log;
}) {
  /** Verifies the install frame's AUTH_ID at the OAuth server, then stores or updates the portal. */
  async function acceptInstallFrame(a: FrameAuth): Promise<Portal> {
    // During installation app.info still says installed=false (it turns true after BX24.installFinish).
    await verifyAccessToken(deps.oauth, { accessToken: a.authId, memberId: a.memberId, domain: a.domain, requireInstalled: false });
    const now = deps.clock();
    const portal = await deps.portals.upsertInstalled({
      memberId: a.memberId,
      domain: a.domain,
      restEndpoint: `${a.https ? 'https' : 'http'}://${a.domain}/rest/`,
      tokens: { accessToken: a.authId, refreshToken: a.refreshId, expiresAt: now + (a.authExpires ?? 3600) * 1000 },
      applicationToken: a.applicationToken,
      now,
    });
    deps.log.info({ portalId: portal.id, domain: portal.domain }, 'portal.install.verified');
    return portal;
  }

  /**
   * Saves the gateway account and the sender, then registers the provider and binds lifecycle events.
   * Settings are stored first so that a Bitrix24 failure can simply be retried by submitting again.
   */
  async function configure(
    portalId: number,
    input: { provider: string; credentials?: Record<string, string>; sender: string },
  ): Promise<{ codes: string[] }> {
    const now = deps.clock();
    if (input.credentials) await deps.settings.save(portalId, { provider: input.provider, credentials: input.credentials }, now);
    else {
      const existing = await deps.settings.get(portalId);
      if (existing) await deps.settings.save(portalId, { provider: input.provider, credentials: existing.credentials }, now);
    }
    const code = senderCode(input.sender);
    // The install form manages a single sender; one that was replaced is removed from Bitrix24 too.
    for (const old of await deps.settings.senders(portalId)) {
      if (old.code !== code) await deps.providers.unregister(portalId, old.code);
    }
    await deps.settings.addSender(portalId, { code, name: input.sender }, now);
    const codes = await deps.providers.registerAll(portalId);
    await deps.providers.bindEvents(portalId);
    deps.log.info({ portalId, codes }, 'portal.install.configured');
    return { codes };
  }

  return { acceptInstallFrame, configure };
}

export type InstallService = ReturnType<typeof createInstallService>;
