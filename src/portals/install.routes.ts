import { Router, type Request, type Response } from 'express';
import type { Config } from '../platform/config.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { isGateRefusal } from './verify.js';
import { B24Error } from '../bitrix/errors.js';
import { GATEWAYS } from '../gateways/index.js';
import { formBody } from '../web/form.js';
import { t, type Lang } from '../web/i18n.js';
import { installForm } from '../../views/install-form.js';
import { installDone } from '../../views/install-done.js';
import { frameHeaders, originOf, sdkOrigin, sendPage } from './frame.js';
import { openFormToken, readFramePost, registrationFailure, sendAuthFailure, sendErrorPage } from './frame-page.js';
import type { FormTokens, Holder } from './form-token.js';
import { checkFailureField, checkFailureText, parseSubmission } from './gateway-form.js';
import { SMPP_FORM_FIELDS, smppFormValues } from './smpp-form.js';
import type { InstallService } from './install.service.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { GatewayCheckFailed } from './settings.service.js';
import { senderCode } from './providers.js';
import { PortalTooOld, type MethodCheck } from './capabilities.js';

/** The install page: Bitrix24 opens it in a frame (POST /install); its form posts to /install/save. */
export function installRoutes(deps: {
  install: InstallService;
  portals: PortalRepo;
  settings: Pick<SettingsRepo, 'get' | 'senders'>;
  formTokens: FormTokens;
  config: Pick<Config, 'ALLOW_PRIVATE_GATEWAYS' | 'B24_JS_SDK_URL'>;
  log: Log;
}) {
  const router = Router();

  async function renderForm(res: Response, status: number, holder: Holder, extra: { values?: Record<string, string>; errors?: Record<string, string>; alert?: string } = {}) {
    const saved = await deps.settings.get(holder.pid);
    const senders = await deps.settings.senders(holder.pid);
    sendPage(res, status, installForm({
      lang: holder.lang,
      action: '/install/save',
      state: deps.formTokens.mint(holder, 'install.save'),
      gateways: [...GATEWAYS],
      secretsSet: saved ? saved.gateway : undefined,
      values: extra.values ?? {
        provider: saved?.gateway,
        sender: senders[0]?.name,
        kannel_url: saved?.gateway === 'kannel' ? saved.credentials.url : undefined,
        kannel_username: saved?.gateway === 'kannel' ? saved.credentials.username : undefined,
        smscru_login: saved?.gateway === 'smscru' ? saved.credentials.login : undefined,
        ...(saved?.gateway === 'smpp' ? smppFormValues(saved.credentials) : {}),
      },
      errors: extra.errors,
      alert: extra.alert,
    }));
  }

  router.post('/install', formBody, async (req: Request, res: Response) => {
    const frame = readFramePost(req, res);
    if (!frame) return;
    let accepted;
    try {
      accepted = await deps.install.acceptInstallFrame(frame.auth);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // Refusals of the OAuth checks' gate are not logged one by one: a flood would be a flood of lines too.
      if (!isGateRefusal(err)) deps.log.warn({ memberId: frame.auth.memberId, domain: frame.auth.domain, reason: err.code }, 'portal.install.rejected');
      return sendAuthFailure(res, frame.lang, err);
    }
    const { portal, viewer } = accepted;
    // An on-premise portal without the methods the app needs is told so before the form is filled in.
    const methods = await deps.install.checkPortal(portal.id);
    const alert = methods && !methods.ok ? missingMethods(methods, frame.lang) : undefined;
    await renderForm(res, 200, { pid: portal.id, mid: portal.memberId, uid: viewer.userId, admin: viewer.admin, lang: frame.lang }, { alert });
  });

  router.post('/install/save', formBody, async (req: Request, res: Response) => {
    let session;
    try {
      session = await openFormToken(deps, req, res, 'install.save');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return sendErrorPage(req, res, err);
    }
    const { holder, portal } = session;
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, holder.lang, saved, { allowPrivate: deps.config.ALLOW_PRIVATE_GATEWAYS });
    const values = Object.fromEntries(['provider', 'sender', 'kannel_url', 'kannel_username', 'kannel_max_parts', 'smscru_login', ...SMPP_FORM_FIELDS].map((k) => [k, String(req.body?.[k] ?? '')]));
    if (!input.ok) return renderForm(res, 422, holder, { values, errors: input.errors });
    // The form replaces the first sender; another one whose provider CODE the new name would take is not renamed.
    const clash = (await deps.settings.senders(portal.id)).slice(1).find((s) => s.code === senderCode(input.sender) && s.name !== input.sender);
    if (clash) return renderForm(res, 422, holder, { values, errors: { sender: t(holder.lang).form.senderNameClash(clash.name || t(holder.lang).defaultSenderName) } });
    try {
      const { codes, balance } = await deps.install.configure(portal.id, { gateway: input.gateway, credentials: input.credentials, sender: input.sender });
      frameHeaders(res, originOf(portal.restEndpoint), sdkOrigin(deps.config.B24_JS_SDK_URL));
      sendPage(res, 200, installDone({
        lang: holder.lang, senders: codes.length ? [input.sender || t(holder.lang).defaultSenderName] : [], balance,
        sdkUrl: deps.config.B24_JS_SDK_URL, sandbox: input.gateway === 'sandbox',
      }));
    } catch (err) {
      if (err instanceof PortalTooOld) return renderForm(res, 409, holder, { values, alert: missingMethods(err.check, holder.lang) });
      if (err instanceof GatewayCheckFailed) {
        return renderForm(res, 422, holder, { values, errors: { [checkFailureField(input.gateway, err.check)]: checkFailureText(holder.lang, input.gateway, err.check) } });
      }
      if (!(err instanceof B24Error)) throw err;
      deps.log.warn({ portalId: portal.id, error: err.code }, 'portal.install.register_failed');
      const { status, alert } = registrationFailure(err, holder.lang);
      await renderForm(res, status, holder, { values, alert });
    }
  });

  return router;
}

/** What the portal lacks, in plain words: the methods, and the Bitrix24 modules whose update brings them. */
function missingMethods(check: Extract<MethodCheck, { ok: false }>, lang: Lang): string {
  const tx = t(lang).onPremise;
  if (check.unknown) return tx.methodsUnknown;
  const parts: string[] = [];
  if (check.missing.length) {
    const modules = [...new Set(check.missing.map((m) => m.module))];
    parts.push(tx.methodsMissing(check.missing.map((m) => m.method).join(', '), modules.join(', ')));
  }
  if (check.unavailable.length) parts.push(tx.methodsUnavailable(check.unavailable.map((m) => m.method).join(', ')));
  return parts.join(' ');
}
