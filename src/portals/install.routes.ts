import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Clock } from '../platform/clock.js';
import type { Crypto } from '../platform/crypto.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { B24Error, explain } from '../bitrix/errors.js';
import { formBody } from '../web/form.js';
import { pickLang, t, type Lang } from '../../views/i18n.js';
import { errorPage } from '../../views/error-page.js';
import { installForm } from '../../views/install-form.js';
import { installDone } from '../../views/install-done.js';
import type { InstallService } from './install.service.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';

const STATE_TTL_MS = 60 * 60 * 1000;
export const PROVIDERS = ['smsru'] as const;

const frameQuery = z.object({
  DOMAIN: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/i),
  PROTOCOL: z.enum(['0', '1']).default('1'),
  LANG: z.string().optional(),
});
const frameBody = z.object({
  AUTH_ID: z.string().min(1),
  AUTH_EXPIRES: z.coerce.number().int().positive().optional(),
  REFRESH_ID: z.string().min(1),
  member_id: z.string().min(1).max(64),
  APPLICATION_TOKEN: z.string().min(1).optional(),
});

// Sender names are what operators approve: up to 11 Latin letters/digits, or a number of up to 15 digits.
const submission = (lang: Lang, keyRequired: boolean) =>
  z.object({
    provider: z.enum(PROVIDERS, { message: lang === 'ru' ? 'Выберите шлюз из списка' : 'Choose a gateway from the list' }),
    api_key: keyRequired
      ? z.string().trim().min(1, lang === 'ru' ? 'Введите API-ключ' : 'Enter the API key').max(200)
      : z.string().trim().max(200).optional(),
    sender: z
      .string()
      .trim()
      .default('')
      .refine((s) => s === '' || /^[A-Za-z0-9 ._&-]{1,11}$/.test(s) || /^\+?\d{1,15}$/.test(s), {
        message: lang === 'ru' ? 'До 11 латинских букв, цифр, пробелов и . _ & - или номер до 15 цифр' : 'Up to 11 Latin letters, digits, spaces and . _ & -, or a number of up to 15 digits',
      }),
  });

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
  const page = (res: Response, status: number, body: { toString(): string }) => res.status(status).type('html').send(body.toString());

  async function renderForm(res: Response, status: number, st: InstallState, extra: { values?: Record<string, string>; errors?: Record<string, string>; alert?: string } = {}) {
    const saved = await deps.settings.get(st.pid);
    const senders = await deps.settings.senders(st.pid);
    page(res, status, installForm({
      lang: st.lang,
      action: '/install/save',
      state: deps.crypto.sign(st, deps.clock() + STATE_TTL_MS),
      providers: [...PROVIDERS],
      apiKeySet: Boolean(saved),
      values: extra.values ?? { provider: saved?.provider, sender: senders[0]?.name },
      errors: extra.errors,
      alert: extra.alert,
    }));
  }

  router.post('/install', formBody, async (req: Request, res: Response) => {
    const lang = pickLang(req.query.LANG);
    const q = frameQuery.safeParse(req.query);
    const b = frameBody.safeParse(req.body);
    if (!q.success || !b.success) return page(res, 400, errorPage({ lang, message: t(lang).notFromBitrix }));
    let portal;
    try {
      portal = await deps.install.acceptInstallFrame({
        authId: b.data.AUTH_ID,
        authExpires: b.data.AUTH_EXPIRES,
        refreshId: b.data.REFRESH_ID,
        memberId: b.data.member_id,
        applicationToken: b.data.APPLICATION_TOKEN,
        domain: q.data.DOMAIN.toLowerCase(),
        https: q.data.PROTOCOL === '1',
      });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      deps.log.warn({ memberId: b.data.member_id, domain: q.data.DOMAIN, reason: err.code }, 'portal.install.rejected');
      const tx = t(lang);
      const message = err.status === 503 ? tx.authUnavailable : tx.authRejected;
      return page(res, err.status, errorPage({ lang, message, detail: err.status === 503 ? undefined : err.message }));
    }
    await renderForm(res, 200, { pid: portal.id, mid: portal.memberId, lang });
  });

  router.post('/install/save', formBody, async (req: Request, res: Response) => {
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
    const saved = await deps.settings.get(portal.id);
    const parsed = submission(st.lang, !saved).safeParse(req.body);
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;
      const values = { provider: String(req.body.provider ?? ''), sender: String(req.body.sender ?? '') };
      return renderForm(res, 422, st, { values, errors });
    }
    const input = parsed.data;
    try {
      const { codes } = await deps.install.configure(portal.id, {
        provider: input.provider,
        credentials: input.api_key ? { api_key: input.api_key } : undefined,
        sender: input.sender,
      });
      page(res, 200, installDone({ lang: st.lang, senders: codes.length ? [input.sender || t(st.lang).defaultSenderName] : [] }));
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      deps.log.warn({ portalId: portal.id, error: err.code }, 'portal.install.register_failed');
      const alert = `${t(st.lang).registerFailed}: ${explain(err, st.lang)}`;
      await renderForm(res, err.code === 'ACCESS_DENIED' ? 403 : 502, st, { values: { provider: input.provider, sender: input.sender }, alert });
    }
  });

  return router;
}
