import { Router, type Request, type Response } from 'express';
import type { Config } from '../platform/config.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { B24Error, explain } from '../bitrix/errors.js';
import { formBody } from '../web/form.js';
import { claimedOrigin, frameHeaders, readFrame, sendPage } from './frame.js';
import { pickLang, t } from '../../views/i18n.js';
import { errorPage } from '../../views/error-page.js';
import { installForm } from '../../views/install-form.js';
import { installDone } from '../../views/install-done.js';
import { GatewayCheckFailed, type InstallService } from './install.service.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { GATEWAYS } from '../gateways/index.js';
import { checkFailureField, parseSubmission } from './gateway-form.js';
import type { FormTokens, Holder } from './form-token.js';
import { openFormToken } from './frame-session.js';

/** The install page: Bitrix24 opens it in a frame (POST /install); its form posts to /install/save. */
export function installRoutes(deps: {
  install: InstallService;
  portals: PortalRepo;
  settings: SettingsRepo;
  formTokens: FormTokens;
  config: Pick<Config, 'ALLOW_PRIVATE_GATEWAYS'>;
  log: Log;
}) {
  const router = Router();
  const page = sendPage;

  async function renderForm(res: Response, status: number, holder: Holder, extra: { values?: Record<string, string>; errors?: Record<string, string>; alert?: string } = {}) {
    const saved = await deps.settings.get(holder.pid);
    const senders = await deps.settings.senders(holder.pid);
    page(res, status, installForm({
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
      },
      errors: extra.errors,
      alert: extra.alert,
    }));
  }

  router.post('/install', formBody, async (req: Request, res: Response) => {
    frameHeaders(res, claimedOrigin(req));
    const frame = readFrame(req);
    const lang = frame.lang;
    if (!frame.ok) return page(res, 400, errorPage({ lang, message: t(lang).notFromBitrix }));
    let accepted;
    try {
      accepted = await deps.install.acceptInstallFrame(frame.auth);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      deps.log.warn({ memberId: frame.auth.memberId, domain: frame.auth.domain, reason: err.code }, 'portal.install.rejected');
      const tx = t(lang);
      if (err.code === 'not_admin') return page(res, 403, errorPage({ lang, message: tx.notAdmin }));
      if (err.code === 'portal_unavailable') return page(res, 503, errorPage({ lang, message: tx.portalUnavailable }));
      const message = err.status === 503 ? tx.authUnavailable : tx.authRejected;
      return page(res, err.status, errorPage({ lang, message, detail: err.status === 503 ? undefined : err.message }));
    }
    const { portal, viewer } = accepted;
    await renderForm(res, 200, { pid: portal.id, mid: portal.memberId, uid: viewer.userId, admin: viewer.admin, lang });
  });

  router.post('/install/save', formBody, async (req: Request, res: Response) => {
    let session;
    try {
      session = await openFormToken(deps, req, res, 'install.save');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return page(res, err.status, errorPage({ lang: pickLang(req.query.LANG), message: err.message }));
    }
    const { holder, portal } = session;
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, holder.lang, saved, { allowPrivate: deps.config.ALLOW_PRIVATE_GATEWAYS });
    const values = Object.fromEntries(['provider', 'sender', 'kannel_url', 'kannel_username'].map((k) => [k, String(req.body?.[k] ?? '')]));
    if (!input.ok) return renderForm(res, 422, holder, { values, errors: input.errors });
    try {
      const { codes, balance } = await deps.install.configure(portal.id, { gateway: input.gateway, credentials: input.credentials, sender: input.sender });
      page(res, 200, installDone({ lang: holder.lang, senders: codes.length ? [input.sender || t(holder.lang).defaultSenderName] : [], balance }));
    } catch (err) {
      if (err instanceof GatewayCheckFailed) {
        return renderForm(res, 422, holder, { values, errors: { [checkFailureField(input.gateway, err.check)]: err.check.reason } });
      }
      if (!(err instanceof B24Error)) throw err;
      deps.log.warn({ portalId: portal.id, error: err.code }, 'portal.install.register_failed');
      const alert = `${t(holder.lang).registerFailed}: ${explain(err, holder.lang)}`;
      await renderForm(res, err.code === 'ACCESS_DENIED' ? 403 : 502, holder, { values, alert });
    }
  });

  return router;
}
