import { Router, type Request, type Response } from 'express';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { AppError } from '../platform/errors.js';
import { B24Error, explain } from '../bitrix/errors.js';
import { PROVIDERS } from '../gateways/index.js';
import { normalizePhone } from '../messages/phone.js';
import { createLogRepo, maskRecipient, type LogFilter } from '../messages/log-repo.js';
import type { MessageState } from '../messages/states.js';
import { formBody } from '../web/form.js';
import { pickLang, t, type Lang } from '../../views/i18n.js';
import { errorPage } from '../../views/error-page.js';
import { settingsPage, type SettingsView } from '../../views/settings-page.js';
import { claimedOrigin, frameHeaders, originOf, readFrame, sendPage } from './frame.js';
import { parseSubmission, senderField } from './gateway-form.js';
import { GatewayCheckFailed } from './install.service.js';
import type { Portal } from './portal-repo.js';
import { senderCode } from './providers.js';
import { verifyAccessToken } from './verify.js';

const STATE_TTL_MS = 8 * 60 * 60 * 1000;
const PAGE_SIZE = 50;

interface AppState {
  pid: number;
  mid: string;
  admin: boolean;
  lang: Lang;
}

const logQuery = z.object({
  status: z.enum(['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed']).optional().catch(undefined),
  from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional().catch(undefined),
  to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(100_000).default(1).catch(1),
  full: z.literal('1').optional().catch(undefined),
});

/**
 * The app's page inside Bitrix24 (`POST /`, opened in a frame like the install page) and its actions.
 * Every action carries the signed state of the verified viewer; administrators change settings,
 * everyone else sees the portal's message log.
 */
export function settingsRoutes(deps: Deps) {
  const router = Router();
  const logs = createLogRepo(deps.db);

  /** The verified viewer from the signed state (hidden field or query), or 401. */
  async function session(req: Request, res: Response): Promise<{ st: AppState; portal: Portal }> {
    const token = String(req.body?.state ?? req.query.state ?? '');
    const v = deps.crypto.verify<AppState>(token, deps.clock());
    const lang = pickLang(req.query.LANG);
    if (!v.ok) throw new AppError('unauthorized', 401, v.reason === 'expired' ? t(lang).stateExpired : t(lang).stateInvalid);
    const portal = await deps.portals.findById(v.value.pid);
    if (!portal || portal.memberId !== v.value.mid || portal.status === 'uninstalled') throw new AppError('unauthorized', 401, t(lang).stateInvalid);
    frameHeaders(res, originOf(portal.restEndpoint));
    return { st: v.value, portal };
  }

  const requireAdmin = (st: AppState) => {
    if (!st.admin) throw new AppError('forbidden', 403, st.lang === 'ru' ? 'Изменять настройки может только администратор Битрикс24' : 'Only a Bitrix24 administrator can change these settings');
  };

  function filterFrom(q: z.infer<typeof logQuery>): LogFilter {
    const day = (s: string) => Date.parse(`${s}T00:00:00Z`);
    return { status: q.status as MessageState | undefined, from: q.from ? day(q.from) : undefined, to: q.to ? day(q.to) + 86_400_000 : undefined };
  }

  async function render(res: Response, status: number, st: AppState, portal: Portal, extra: Partial<SettingsView> & { withBalance?: boolean; query?: unknown } = {}) {
    const q = logQuery.parse(extra.query ?? {});
    const [saved, senders, log] = await Promise.all([
      deps.settings.get(portal.id),
      deps.settings.senders(portal.id),
      logs.page(portal.id, filterFrom(q), q.page, PAGE_SIZE),
    ]);
    let balance: number | null | undefined;
    if (st.admin && saved && extra.withBalance) {
      const check = await deps.gateways(saved.provider, saved.credentials).checkCredentials();
      balance = check.ok ? (check.balance ?? undefined) : null;
    }
    sendPage(res, status, settingsPage({
      lang: st.lang,
      admin: st.admin,
      state: deps.crypto.sign(st, deps.clock() + STATE_TTL_MS),
      providers: PROVIDERS,
      gateway: saved && {
        provider: saved.provider, balance,
        kannelUrl: saved.provider === 'kannel' ? saved.credentials.url : undefined,
        kannelUsername: saved.provider === 'kannel' ? saved.credentials.username : undefined,
      },
      defaultCountry: portal.defaultCountry,
      senders,
      log: { ...log, page: q.page, pageSize: PAGE_SIZE, filter: { status: q.status, from: q.from, to: q.to }, full: q.full === '1' && st.admin },
      ...extra,
    }));
  }

  router.post('/', formBody, async (req, res) => {
    frameHeaders(res, claimedOrigin(req));
    const frame = readFrame(req);
    const lang = frame.lang;
    if (!frame.ok) return sendPage(res, 400, errorPage({ lang, message: t(lang).notFromBitrix }));
    try {
      // The app's own pages require a finished installation (app.info install.installed = true).
      await verifyAccessToken(deps.oauth, { accessToken: frame.auth.authId, memberId: frame.auth.memberId, domain: frame.auth.domain, requireInstalled: true });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return sendPage(res, err.status, errorPage({ lang, message: err.status === 503 ? t(lang).authUnavailable : t(lang).authRejected, detail: err.status === 503 ? undefined : err.message }));
    }
    const portal = await deps.portals.findByMemberId(frame.auth.memberId);
    if (!portal || portal.status === 'uninstalled') return sendPage(res, 401, errorPage({ lang, message: t(lang).authRejected, detail: 'the app is not installed in this portal' }));
    // Admin or not is Bitrix24's answer about the viewer, asked with the viewer's own token.
    let admin = false;
    try {
      admin = (await deps.rest.call<boolean>(portal.id, 'user.admin', {}, { as: frame.auth.authId })) === true;
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      deps.log.warn({ portalId: portal.id, error: err.code }, 'settings.user_admin.failed');
    }
    if (admin && portal.status === 'inactive') {
      const now = deps.clock();
      await deps.portals.reactivate(portal.id, { accessToken: frame.auth.authId, refreshToken: frame.auth.refreshId, expiresAt: now + (frame.auth.authExpires ?? 3600) * 1000 }, now);
      deps.log.info({ portalId: portal.id }, 'portal.reactivated');
    }
    await render(res, 200, { pid: portal.id, mid: portal.memberId, admin, lang }, portal, { withBalance: true });
  });

  router.get('/app/log', async (req, res) => {
    const { st, portal } = await session(req, res);
    await render(res, 200, st, portal, { query: req.query });
  });

  router.get('/app/log.csv', async (req, res) => {
    const { st, portal } = await session(req, res);
    const q = logQuery.parse(req.query);
    const full = q.full === '1' && st.admin;
    const rows = await logs.all(portal.id, filterFrom(q));
    // Cells that a spreadsheet would run as a formula get a leading quote (CSV injection); a bare number does not.
    const cell = (v: unknown) => {
      const s = String(v ?? '');
      const formula = /^[=+\-@]/.test(s) && !/^\+[0-9•]+$/.test(s);
      return formula || /[",\n;]/.test(s) ? `"${(formula ? `'${s}` : s).replace(/"/g, '""')}"` : s;
    };
    const lines = [['time_utc', 'recipient', 'sender', 'segments', 'status', 'reason', 'test'].join(',')];
    for (const e of rows) lines.push([new Date(e.createdAt).toISOString(), full ? e.to : maskRecipient(e.to), e.sender, e.segments, e.state, e.reason, e.isTest ? 1 : 0].map(cell).join(','));
    res.type('text/csv; charset=utf-8').attachment(`sms-log-${portal.domain.replace(/[^a-z0-9.-]/gi, '_')}.csv`).send('\uFEFF' + lines.join('\r\n') + '\r\n');
  });

  router.get('/app/messages/:id', async (req, res) => {
    const { portal } = await session(req, res);
    const e = await logs.byId(portal.id, Number(req.params.id));
    if (!e) throw new AppError('not_found', 404, 'no such message');
    res.json({ id: e.id, state: e.state, reason: e.reason });
  });

  router.post('/app/gateway', formBody, async (req, res) => {
    const { st, portal } = await session(req, res);
    requireAdmin(st);
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, st.lang, saved);
    const values = Object.fromEntries(['provider', 'kannel_url', 'kannel_username'].map((k) => [k, String(req.body?.[k] ?? '')]));
    const country = z.string().regex(/^[A-Z]{2}$/).safeParse(req.body?.default_country);
    if (!input.ok) return render(res, 422, st, portal, { values, errors: input.errors });
    try {
      await deps.install.saveGateway(portal.id, input.provider, input.credentials);
    } catch (err) {
      if (!(err instanceof GatewayCheckFailed)) throw err;
      return render(res, 422, st, portal, { values, errors: { [input.provider === 'smsru' ? 'api_key' : 'kannel_password']: err.check.reason } });
    }
    if (country.success) await deps.portals.setDefaultCountry(portal.id, country.data, deps.clock());
    const fresh = (await deps.portals.findById(portal.id))!;
    await render(res, 200, st, fresh, { flash: t(st.lang).saved, withBalance: true });
  });

  router.post('/app/senders/add', formBody, async (req, res) => {
    const { st, portal } = await session(req, res);
    requireAdmin(st);
    const name = senderField(st.lang).safeParse(req.body?.sender_name);
    if (!name.success) return render(res, 422, st, portal, { values: { sender_name: String(req.body?.sender_name ?? '') }, errors: { sender_name: name.error.issues[0]!.message } });
    await deps.settings.addSender(portal.id, { code: senderCode(name.data), name: name.data }, deps.clock());
    try {
      await deps.providers.registerAll(portal.id);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      return render(res, err.code === 'ACCESS_DENIED' ? 403 : 502, st, portal, { alert: `${t(st.lang).registerFailed}: ${explain(err, st.lang)}` });
    }
    await render(res, 200, st, portal, { flash: t(st.lang).senderAdded });
  });

  router.post('/app/senders/remove', formBody, async (req, res) => {
    const { st, portal } = await session(req, res);
    requireAdmin(st);
    const code = String(req.body?.code ?? '');
    if (!(await deps.settings.senders(portal.id)).some((s) => s.code === code)) throw new AppError('not_found', 404, `no sender ${code}`);
    try {
      await deps.providers.unregister(portal.id, code);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      return render(res, 502, st, portal, { alert: explain(err, st.lang) });
    }
    await render(res, 200, st, portal, { flash: t(st.lang).senderRemoved });
  });

  /** A test SMS goes through the same queue as Bitrix24's; it is never reported to Bitrix24. */
  router.post('/app/test-sms', formBody, async (req, res) => {
    const { st, portal } = await session(req, res);
    requireAdmin(st);
    const json = req.accepts(['html', 'json']) === 'json';
    const raw = String(req.body?.phone ?? '').trim();
    const text = String(req.body?.text ?? '').trim();
    const phone = normalizePhone(raw, portal.defaultCountry);
    const errors: Record<string, string> = {};
    if (!phone.ok) errors.phone = phone.reason;
    if (!text || text.length > 1000) errors.text = st.lang === 'ru' ? 'Введите текст до 1000 символов' : 'Enter a text of up to 1000 characters';
    if (!phone.ok || errors.text) {
      if (json) return res.status(422).json({ error: 'invalid_request', message: Object.values(errors).join('; '), fields: errors });
      return render(res, 422, st, portal, { values: { phone: raw, text }, errors });
    }
    const [first] = await deps.settings.senders(portal.id);
    const id = await deps.messages.enqueue({
      portalId: portal.id, b24MessageId: `test-${randomBytes(12).toString('hex')}`, code: first?.code ?? '', messageTo: raw,
      phone: phone.ok ? phone.e164 : null, body: text, state: 'queued', isTest: true, now: deps.clock(),
    });
    deps.worker.kick();
    if (json) return res.json({ id, state: 'queued' });
    await render(res, 200, st, portal, { flash: t(st.lang).testQueued, values: { phone: raw, text, test_status: t(st.lang).states.queued! } });
  });

  // Errors of these routes are pages or JSON as the caller asked.
  router.use(['/app'], ((err, req, res, next) => {
    if (!(err instanceof AppError) || !err.expose || req.accepts(['html', 'json']) === 'json') return next(err);
    sendPage(res, err.status, errorPage({ lang: pickLang(req.query.LANG), message: err.message }));
  }) as import('express').ErrorRequestHandler);

  return router;
}
