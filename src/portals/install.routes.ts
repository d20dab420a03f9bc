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
import { GatewayCheckFailed, type InstallService } from './install.service.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { PROVIDERS } from '../gateways/index.js';

const STATE_TTL_MS = 60 * 60 * 1000;

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
const senderField = (lang: Lang) =>
  z
    .string()
    .trim()
    .default('')
    .refine((s) => s === '' || /^[A-Za-z0-9 ._&-]{1,11}$/.test(s) || /^\+?\d{1,15}$/.test(s), {
      message: lang === 'ru' ? 'До 11 латинских букв, цифр, пробелов и . _ & - или номер до 15 цифр' : 'Up to 11 Latin letters, digits, spaces and . _ & -, or a number of up to 15 digits',
    });

/** Validates a submission; secrets may be left empty when the same provider already has them saved. */
function parseSubmission(raw: Record<string, unknown>, lang: Lang, saved: { provider: string; credentials: Record<string, string> } | undefined) {
  const ru = lang === 'ru';
  // A field left out of the post reads as an empty one, so every message names what is missing.
  const body: Record<string, unknown> = { sender: '', api_key: '', kannel_url: '', kannel_username: '', kannel_password: '', ...raw };
  const keep = (provider: string) => saved?.provider === provider;
  const secret = (required: boolean, message: string) =>
    required ? z.string().trim().min(1, message).max(200) : z.string().trim().max(200).optional();
  const provider = z.enum(PROVIDERS, { message: ru ? 'Выберите шлюз из списка' : 'Choose a gateway from the list' }).safeParse(body.provider);
  if (!provider.success) {
    const sender = senderField(lang).safeParse(body.sender);
    const errors: Record<string, string> = { provider: provider.error.issues[0]!.message };
    if (!sender.success) errors.sender = sender.error.issues[0]!.message;
    return { ok: false as const, errors };
  }
  const schema =
    provider.data === 'smsru'
      ? z.object({ sender: senderField(lang), api_key: secret(!keep('smsru'), ru ? 'Введите API-ключ' : 'Enter the API key') })
      : z.object({
          sender: senderField(lang),
          kannel_url: z.string().trim().url(ru ? 'Введите адрес smsbox, например http://kannel:13013' : 'Enter the smsbox address, e.g. http://kannel:13013').refine((u) => /^https?:\/\//.test(u), ru ? 'Только http или https' : 'http or https only'),
          kannel_username: z.string().trim().min(1, ru ? 'Введите имя пользователя sendsms' : 'Enter the sendsms username').max(100),
          kannel_password: secret(!keep('kannel'), ru ? 'Введите пароль sendsms' : 'Enter the sendsms password'),
        });
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;
    return { ok: false as const, errors };
  }
  const d = parsed.data as Record<string, string | undefined>;
  let credentials: Record<string, string> | undefined;
  if (provider.data === 'smsru') credentials = d.api_key ? { api_key: d.api_key } : undefined;
  else {
    const password = d.kannel_password || (keep('kannel') ? saved!.credentials.password : undefined) || '';
    credentials = { url: d.kannel_url!, username: d.kannel_username!, password };
  }
  return { ok: true as const, provider: provider.data, sender: d.sender ?? '', credentials };
}

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
