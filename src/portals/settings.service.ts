import { randomBytes } from 'node:crypto';
import { B24Error } from '../bitrix/errors.js';
import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import type { RestClient } from '../bitrix/rest-client.js';
import type { GatewayFactory } from '../gateways/index.js';
import type { CredentialCheck } from '../gateways/gateway.js';
import type { Accounts } from '../delivery/accounts.js';
import type { IdentityRepo } from './identity-repo.js';
import type { IntakeService } from '../messages/intake.service.js';
import type { FrameAuth } from './frame.js';
import type { Portal, PortalRepo } from './portal-repo.js';
import type { GatewaySettings, SettingsRepo } from './settings-repo.js';
import { senderCode, type ProviderRegistry } from './providers.js';
import type { TokenChecks } from './verify.js';
import { identifyViewer, type Viewer } from './viewer.js';

/**
 * The deadline of the balance asked for when the settings page is shown (the gateways' own is GATEWAY_TIMEOUT_MS,
 * 15 s by default): past it the page says the balance is not available rather than keep the administrator waiting.
 */
export const BALANCE_TIMEOUT_MS = 2_000;

export class GatewayCheckFailed extends Error {
  constructor(readonly check: Extract<CredentialCheck, { ok: false }>) {
    super(check.reason);
  }
}

/**
 * The app's page inside Bitrix24 and what its administrators change there: the gateway account (also saved by the
 * install page), the sender names (one Bitrix24 provider each), the default country, and test SMS.
 */
export function createSettingsService(deps: {
  tokenChecks: TokenChecks;
  rest: RestClient;
  portals: PortalRepo;
  settings: SettingsRepo;
  providers: ProviderRegistry;
  accounts: Pick<Accounts, 'forget'>;
  gateways: GatewayFactory;
  /** The same gateways with a deadline of their own for the balance on the page: a slow gateway must not hold it. */
  balanceGateways: GatewayFactory;
  intake: Pick<IntakeService, 'accept'>;
  identities: Pick<IdentityRepo, 'rememberAdmin' | 'setTokenUser' | 'reportsWaitingSince'>;
  wakeWaitingReports: (portalId: number) => Promise<void>;
  /** Where a gateway configured per account (SMS.ru) posts a portal's delivery reports. */
  callbackUrl: (gateway: string, portalId: number) => string;
  clock: Clock;
  log: Log;
}) {
  /**
   * Opens the app's frame: the AUTH_ID is checked at the OAuth server and the app must be installed there; admin or
   * not is Bitrix24's answer about the viewer, asked with the viewer's own token. An administrator's visit revives a
   * portal whose stored tokens died. Throws AppError (401 refused, 503 unreachable).
   */
  async function openFrame(a: FrameAuth): Promise<{ portal: Portal; viewer: Viewer }> {
    // The app's own pages require a finished installation (app.info install.installed = true).
    await deps.tokenChecks.verify(a.from, { accessToken: a.authId, memberId: a.memberId, domain: a.domain, requireInstalled: true });
    const portal = await deps.portals.findByMemberId(a.memberId);
    if (!portal || portal.status === 'uninstalled') throw new AppError('auth_rejected', 401, 'the app is not installed in this portal');
    const viewer = await identifyViewer(deps.rest, { endpoint: portal.restEndpoint, memberId: portal.memberId, portalId: portal.id }, a.authId);
    if (viewer.admin) {
      const now = deps.clock();
      const pair = { accessToken: a.authId, refreshToken: a.refreshId, expiresAt: now + (a.authExpires ?? 3600) * 1000 };
      if (portal.status === 'inactive') {
        await deps.portals.reactivate(portal.id, pair, now);
        await deps.identities.setTokenUser(portal.id, viewer.userId);
        deps.log.info({ portalId: portal.id, userId: viewer.userId }, 'portal.reactivated');
      } else {
        // The next pair to try when the stored one is refused (its user is no administrator any more): issue 10 §3.
        await deps.identities.rememberAdmin(portal.id, viewer.userId, pair, now);
      }
      if ((await deps.identities.reportsWaitingSince(portal.id)) !== null) await deps.wakeWaitingReports(portal.id);
    }
    return { portal, viewer };
  }

  /**
   * Checks the credentials with the gateway (throws GatewayCheckFailed) and saves them; SMS.ru also gets our
   * callback URL. `credentials` undefined keeps the saved ones.
   */
  async function saveGateway(portalId: number, gatewayKind: string, credentials?: Record<string, string>): Promise<{ balance?: number }> {
    const creds = credentials ?? (await deps.settings.get(portalId))?.credentials ?? {};
    const gateway = deps.gateways(gatewayKind, creds, { owner: portalId });
    const check = await gateway.checkCredentials();
    if (!check.ok) throw new GatewayCheckFailed(check);
    await deps.settings.save(portalId, { gateway: gatewayKind, credentials: creds }, deps.clock());
    deps.accounts.forget(portalId);
    if (gateway.ensureCallback) {
      // Best effort: without it, statuses still arrive by polling.
      await gateway.ensureCallback(deps.callbackUrl(gateway.name, portalId)).catch((err) => deps.log.warn({ portalId, error: err.code ?? String(err) }, 'gateway.callback.failed'));
    }
    return { balance: check.balance };
  }

  /** The settings page's gateway form: the account (checked first), then the default country. The portal as saved. */
  async function updateGateway(
    portalId: number, input: { gateway: string; credentials?: Record<string, string> }, defaultCountry?: string,
  ): Promise<{ portal: Portal; renameFailed?: B24Error }> {
    const before = (await deps.settings.get(portalId))?.gateway;
    await saveGateway(portalId, input.gateway, input.credentials);
    let renameFailed: B24Error | undefined;
    if (before !== input.gateway && (before === 'sandbox' || input.gateway === 'sandbox')) {
      // The providers' names say whether SMS are really sent (providers.ts): they change with the gateway. Until
      // Bitrix24 has the new names the senders count as unregistered, so the provider check renames them if this fails.
      await deps.settings.markUnregistered(portalId);
      await deps.providers.registerAll(portalId).catch((err: unknown) => {
        deps.log.warn({ portalId, error: (err as { code?: string }).code ?? String(err) }, 'provider.rename.failed');
        if (!(err instanceof B24Error)) throw err;
        renameFailed = err;
      });
    }
    if (defaultCountry) await deps.portals.setDefaultCountry(portalId, defaultCountry, deps.clock());
    return { portal: (await deps.portals.findById(portalId))!, renameFailed };
  }

  /** The live balance: a number, undefined when the gateway has none to tell, null when it could not be asked in time. */
  async function balance(portalId: number, saved: GatewaySettings): Promise<number | null | undefined> {
    const gateway = deps.balanceGateways(saved.gateway, saved.credentials, { owner: portalId });
    if (gateway.hasBalance === false) return undefined;
    const check = await gateway.checkCredentials();
    return check.ok ? (check.balance ?? undefined) : null;
  }

  /** Stores a sender name and registers every sender with Bitrix24 (throws B24Error; the name stays saved). */
  async function addSender(portalId: number, name: string) {
    await deps.settings.addSender(portalId, { code: senderCode(name), name }, deps.clock());
    await deps.providers.registerAll(portalId);
  }

  async function removeSender(portalId: number, code: string) {
    if (!(await deps.settings.senders(portalId)).some((s) => s.code === code)) throw new AppError('not_found', 404, `no sender ${code}`);
    await deps.providers.unregister(portalId, code);
  }

  /** A test SMS from the portal's first sender, through intake like any message. Its message id. */
  async function sendTest(portal: Portal, sms: { messageTo: string; text: string }): Promise<number | undefined> {
    const [first] = await deps.settings.senders(portal.id);
    const messageId = `test-${randomBytes(12).toString('hex')}`;
    const { id } = await deps.intake.accept(portal, { messageId, messageTo: sms.messageTo, messageBody: sms.text, code: first?.code ?? '' }, { test: true });
    return id;
  }

  return { openFrame, saveGateway, updateGateway, balance, addSender, removeSender, sendTest };
}

export type SettingsService = ReturnType<typeof createSettingsService>;
