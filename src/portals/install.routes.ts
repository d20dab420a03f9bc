import { Router, type Request, type Response } from 'express';
import type { Clock } from '../platform/clock.js';
import type { Crypto } from '../platform/crypto.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { B24Error, explain } from '../bitrix/errors.js';
import { formBody } from '../web/form.js';
import { claimedOrigin, frameHeaders, originOf, readFrame, sendPage } from './frame.js';
import { pickLang, t, type Lang } from '../../views/i18n.js';
import { errorPage } from '../../views/error-page.js';
import { installForm } from '../../views/install-form.js';
import { installDone } from '../../views/install-done.js';
import { GatewayCheckFailed, type InstallService } from './install.service.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { PROVIDERS } from '../gateways/index.js';
import { parseSubmission } from './gateway-form.js';

const STATE_TTL_MS = 60 * 60 * 1000;

interface InstallState {
  pid: number;
  mid: string;
  lang: Lang;
}

export function installRoutes(deps: {
  install: InstallService;
  portals: PortalRepo;
  settings: SettingsRepo;
  crypto: Crypto;
  clock: Clock;
  log: Log;
}) {
  const router = Router();
  const page = sendPage;

  async function renderForm(res: Response, status: number, st: InstallState, extra: { values?: Record<string, string>; errors?: Record<string, string>; alert?: string } = {}) {
    const saved = await deps.settings.get(st.pid);
    const senders = await deps.settings.senders(st.pid);
    page(res, status, installForm({
      lang: st.lang,
      action: '/install/save',
      state: deps.crypto.sign(st, deps.clock() + STATE_TTL_MS),
      providers: [...PROVIDERS],
      secretsSet: saved ? saved.provider : undefined,
      values: extra.values ?? {
        provider: saved?.provider,
        sender: senders[0]?.name,
        kannel_url: saved?.provider === 'kannel' ? saved.credentials.url : undefined,
        kannel_username: saved?.provider === 'kannel' ? saved.credentials.username : undefined,
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
    let portal;
    try {
      portal = await deps.install.acceptInstallFrame(frame.auth);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      deps.log.warn({ memberId: frame.auth.memberId, domain: frame.auth.domain, reason: err.code }, 'portal.install.rejected');
      const tx = t(lang);
      const message = err.status === 503 ? tx.authUnavailable : tx.authRejected;
      return page(res, err.status, errorPage({ lang, message, detail: err.status === 503 ? undefined : err.message }));
    }
    await renderForm(res, 200, { pid: portal.id, mid: portal.memberId, lang });
  });

  router.post('/install/save', formBody, async (req: Request, res: Response) => {
    frameHeaders(res, undefined);
    const token = typeof req.body?.state === 'string' ? req.body.state : '';
    const verified = deps.crypto.verify<InstallState>(token, deps.clock());
    const fallbackLang = pickLang(req.query.LANG);
    if (!verified.ok) {
      const tx = t(fallbackLang);
      return page(res, 401, errorPage({ lang: fallbackLang, message: verified.reason === 'expired' ? tx.stateExpired : tx.stateInvalid }));
    }
    const st = verified.value;
    const portal = await deps.portals.findById(st.pid);
    if (!portal || portal.memberId !== st.mid || portal.status === 'uninstalled') {
      return page(res, 401, errorPage({ lang: st.lang, message: t(st.lang).stateInvalid }));
    }
    frameHeaders(res, originOf(portal.restEndpoint));
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, st.lang, saved);
    const values = Object.fromEntries(['provider', 'sender', 'kannel_url', 'kannel_username'].map((k) => [k, String(req.body?.[k] ?? '')]));
    if (!input.ok) return renderForm(res, 422, st, { values, errors: input.errors });
    try {
      const { codes, balance } = await deps.install.configure(portal.id, { provider: input.provider, credentials: input.credentials, sender: input.sender });
      page(res, 200, installDone({ lang: st.lang, senders: codes.length ? [input.sender || t(st.lang).defaultSenderName] : [], balance }));
    } catch (err) {
      if (err instanceof GatewayCheckFailed) {
        const field = input.provider === 'smsru' ? 'api_key' : 'kannel_password';
        return renderForm(res, 422, st, { values, errors: { [field]: err.check.reason } });
      }
      if (!(err instanceof B24Error)) throw err;
      deps.log.warn({ portalId: portal.id, error: err.code }, 'portal.install.register_failed');
      const alert = `${t(st.lang).registerFailed}: ${explain(err, st.lang)}`;
      await renderForm(res, err.code === 'ACCESS_DENIED' ? 403 : 502, st, { values, alert });
    }
  });

  return router;
}
