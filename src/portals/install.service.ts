import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { FrameAuth } from './frame.js';
import type { PortalRepo, Portal } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import type { IdentityRepo } from './identity-repo.js';
import type { SettingsService } from './settings.service.js';
import { senderCode, type ProviderRegistry, INSTALL_EVENTS } from './providers.js';
import { PortalTooOld, checkMethods, type MethodCheck } from './capabilities.js';
import type { TokenChecks } from './verify.js';
import { identifyViewer, type Viewer } from './viewer.js';

/**
 * The install story: verify the frame's token, store the portal, then check and save the gateway (the settings
 * service's job, as on the app's page) and register.
 */
export function createInstallService(deps: {
  tokenChecks: TokenChecks;
  rest: RestClient;
  portals: PortalRepo;
  identities: Pick<IdentityRepo, 'setTokenUser'>;
  settings: SettingsRepo;
  settingsService: Pick<SettingsService, 'saveGateway'>;
  providers: ProviderRegistry;
  clock: Clock;
  log: Log;
}) {
  /**
   * Verifies the install frame's AUTH_ID at the OAuth server, asks the portal whether its user is an administrator,
   * and only then stores the portal. Any employee can open the app and gets a genuine AUTH_ID, so a non-administrator
   * is refused before anything is shown or stored: the stored tokens are only ever an administrator's. The frame's
   * APPLICATION_TOKEN is taken only when the portal has none yet or was uninstalled; afterwards only a proven
   * ONAPPINSTALL / ONAPPUPDATE event changes it.
   */
  async function acceptInstallFrame(a: FrameAuth): Promise<{ portal: Portal; viewer: Viewer }> {
    // During installation app.info still says installed=false (it turns true after BX24.installFinish).
    await deps.tokenChecks.verify(a.from, { accessToken: a.authId, memberId: a.memberId, domain: a.domain, requireInstalled: false });
    const existing = await deps.portals.findByMemberId(a.memberId);
    const restEndpoint = `${a.https ? 'https' : 'http'}://${a.domain}/rest/`;
    const viewer = await identifyViewer(deps.rest, { endpoint: restEndpoint, memberId: a.memberId, portalId: existing?.id }, a.authId);
    if (!viewer.admin) {
      deps.log.warn({ portalId: existing?.id, userId: viewer.userId }, 'portal.install.not_admin');
      throw new AppError('not_admin', 403, 'only a Bitrix24 administrator can install or configure this app');
    }
    const takeAppToken = !existing || existing.status === 'uninstalled' || !(await deps.portals.hasApplicationToken(existing.id));
    if (!takeAppToken && a.applicationToken && !(await deps.portals.matchesApplicationToken(existing!.id, a.applicationToken))) {
      deps.log.warn({ portalId: existing!.id }, 'portal.install.application_token_ignored');
    }
    const now = deps.clock();
    const portal = await deps.portals.upsertInstalled({
      memberId: a.memberId,
      domain: a.domain,
      restEndpoint,
      tokens: { accessToken: a.authId, refreshToken: a.refreshId, expiresAt: now + (a.authExpires ?? 3600) * 1000 },
      applicationToken: takeAppToken ? a.applicationToken : undefined,
      now,
    });
    await deps.identities.setTokenUser(portal.id, viewer.userId);
    deps.log.info({ portalId: portal.id, domain: portal.domain, userId: viewer.userId }, 'portal.install.verified');
    return { portal, viewer };
  }

  /** Whether the portal has the REST methods the app needs; undefined when it could not be asked now. */
  async function checkPortal(portalId: number): Promise<MethodCheck | undefined> {
    try {
      return await checkMethods(deps.rest, portalId);
    } catch (err) {
      deps.log.warn({ portalId, error: (err as { code?: string }).code ?? String(err) }, 'portal.install.methods_unknown');
      return undefined;
    }
  }

  /**
   * The install form: the portal's methods first (an on-premise portal may lack them: PortalTooOld, nothing is
   * saved or registered), the gateway, then the first sender, which it manages (a replaced one is removed from
   * Bitrix24 too), the provider registration and the lifecycle events. Settings are stored before providers are registered, so a
   * Bitrix24 failure can simply be retried by submitting again.
   */
  async function configure(
    portalId: number,
    input: { gateway: string; credentials?: Record<string, string>; sender: string },
  ): Promise<{ codes: string[]; balance?: number }> {
    const methods = await checkMethods(deps.rest, portalId);
    if (!methods.ok) {
      deps.log.warn({ portalId, missing: methods.missing.map((m) => m.method), unavailable: methods.unavailable.map((m) => m.method) }, 'portal.install.methods_missing');
      throw new PortalTooOld(methods);
    }
    // Throws GatewayCheckFailed before anything is saved.
    const { balance } = await deps.settingsService.saveGateway(portalId, input.gateway, input.credentials);
    const code = senderCode(input.sender);
    // The form shows the first sender only: a new name replaces it, the others (added on the settings page, kept
    // by an uninstall without CLEAN) stay.
    const [shown] = await deps.settings.senders(portalId);
    if (shown && shown.code !== code) {
      await deps.providers.unregister(portalId, shown.code, true);
      await deps.settings.renameSender(portalId, shown.code, { code, name: input.sender });
    } else {
      await deps.settings.addSender(portalId, { code, name: input.sender }, deps.clock());
    }
    const codes = await deps.providers.registerAll(portalId);
    await deps.providers.bindEvents(portalId, INSTALL_EVENTS);
    deps.log.info({ portalId, codes, gateway: input.gateway }, 'portal.install.configured');
    return { codes, balance };
  }

  return { acceptInstallFrame, checkPortal, configure };
}

export type InstallService = ReturnType<typeof createInstallService>;
