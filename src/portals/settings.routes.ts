import { Router } from 'express';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Deps } from '../deps.js';
import { AppError } from '../platform/errors.js';
import { B24Error, explain } from '../bitrix/errors.js';
import { normalizePhone } from '../messages/phone.js';
import { formBody } from '../web/form.js';
import { t } from '../../views/i18n.js';
import { errorPage } from '../../views/error-page.js';
import { claimedOrigin, frameHeaders, readFrame, sendPage } from './frame.js';
import { openFormToken } from './frame-session.js';
import { checkFailureField, parseSubmission, senderField } from './gateway-form.js';
import { GatewayCheckFailed } from './install.service.js';
import { senderCode } from './providers.js';
import { createSettingsView, framePageErrors } from './settings-view.js';
import { verifyAccessToken } from './verify.js';
import { identifyViewer } from './viewer.js';

/**
 * The app's page inside Bitrix24 (`POST /`, opened in a frame like the install page) and its administrators'
 * actions. Every action carries a form token minted for that action and for an administrator.
 */
export function settingsRoutes(deps: Deps) {
  const router = Router();
  const view = createSettingsView(deps);

  router.post('/', formBody, async (req, res) => {
    frameHeaders(res, claimedOrigin(req));
    const frame = readFrame(req);
    const lang = frame.lang;
    const tx = t(lang);
    if (!frame.ok) return sendPage(res, 400, errorPage({ lang, message: tx.notFromBitrix }));
    let viewer;
    let portal;
    try {
      // The app's own pages require a finished installation (app.info install.installed = true).
      await verifyAccessToken(deps.oauth, { accessToken: frame.auth.authId, memberId: frame.auth.memberId, domain: frame.auth.domain, requireInstalled: true });
      portal = await deps.portals.findByMemberId(frame.auth.memberId);
      if (!portal || portal.status === 'uninstalled') return sendPage(res, 401, errorPage({ lang, message: tx.authRejected, detail: 'the app is not installed in this portal' }));
      // Admin or not is Bitrix24's answer about the viewer, asked with the viewer's own token.
      viewer = await identifyViewer(deps.rest, { endpoint: portal.restEndpoint, memberId: portal.memberId, portalId: portal.id }, frame.auth.authId);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const message = err.code === 'portal_unavailable' ? tx.portalUnavailable : err.status === 503 ? tx.authUnavailable : tx.authRejected;
      return sendPage(res, err.status, errorPage({ lang, message, detail: err.status === 503 ? undefined : err.message }));
    }
    if (viewer.admin && portal.status === 'inactive') {
      const now = deps.clock();
      await deps.portals.reactivate(portal.id, { accessToken: frame.auth.authId, refreshToken: frame.auth.refreshId, expiresAt: now + (frame.auth.authExpires ?? 3600) * 1000 }, now);
      deps.log.info({ portalId: portal.id, userId: viewer.userId }, 'portal.reactivated');
    }
    await view.render(res, 200, { pid: portal.id, mid: portal.memberId, uid: viewer.userId, admin: viewer.admin, lang }, portal, { withBalance: true });
  });

  router.post('/app/gateway', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.gateway');
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, holder.lang, saved, { allowPrivate: deps.config.ALLOW_PRIVATE_GATEWAYS });
    const values = Object.fromEntries(['provider', 'kannel_url', 'kannel_username'].map((k) => [k, String(req.body?.[k] ?? '')]));
    const country = z.string().regex(/^[A-Z]{2}$/).safeParse(req.body?.default_country);
    if (!input.ok) return view.render(res, 422, holder, portal, { values, errors: input.errors });
    try {
      await deps.install.saveGateway(portal.id, input.gateway, input.credentials);
    } catch (err) {
      if (!(err instanceof GatewayCheckFailed)) throw err;
      return view.render(res, 422, holder, portal, { values, errors: { [checkFailureField(input.gateway, err.check)]: err.check.reason } });
    }
    if (country.success) await deps.portals.setDefaultCountry(portal.id, country.data, deps.clock());
    const fresh = (await deps.portals.findById(portal.id))!;
    await view.render(res, 200, holder, fresh, { flash: t(holder.lang).saved, withBalance: true });
  });

  router.post('/app/senders/add', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.senders.add');
    const name = senderField(holder.lang).safeParse(req.body?.sender_name);
    if (!name.success) return view.render(res, 422, holder, portal, { values: { sender_name: String(req.body?.sender_name ?? '') }, errors: { sender_name: name.error.issues[0]!.message } });
    await deps.settings.addSender(portal.id, { code: senderCode(name.data), name: name.data }, deps.clock());
    try {
      await deps.providers.registerAll(portal.id);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      return view.render(res, err.code === 'ACCESS_DENIED' ? 403 : 502, holder, portal, { alert: `${t(holder.lang).registerFailed}: ${explain(err, holder.lang)}` });
    }
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).senderAdded });
  });

  router.post('/app/senders/remove', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.senders.remove');
    const code = String(req.body?.code ?? '');
    if (!(await deps.settings.senders(portal.id)).some((s) => s.code === code)) throw new AppError('not_found', 404, `no sender ${code}`);
    try {
      await deps.providers.unregister(portal.id, code);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      return view.render(res, 502, holder, portal, { alert: explain(err, holder.lang) });
    }
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).senderRemoved });
  });

  /** A test SMS goes through the same queue as Bitrix24's; it is never reported to Bitrix24. */
  router.post('/app/test-sms', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.test-sms');
    const json = req.accepts(['html', 'json']) === 'json';
    const raw = String(req.body?.phone ?? '').trim();
    const text = String(req.body?.text ?? '').trim();
    const phone = normalizePhone(raw, portal.defaultCountry);
    const errors: Record<string, string> = {};
    if (!phone.ok) errors.phone = phone.reason;
    if (!text || text.length > 1000) errors.text = holder.lang === 'ru' ? 'Введите текст до 1000 символов' : 'Enter a text of up to 1000 characters';
    if (!phone.ok || errors.text) {
      if (json) return res.status(422).json({ error: 'invalid_request', message: Object.values(errors).join('; '), fields: errors });
      return view.render(res, 422, holder, portal, { values: { phone: raw, text }, errors });
    }
    const [first] = await deps.settings.senders(portal.id);
    const id = await deps.messages.enqueue({
      portalId: portal.id, b24MessageId: `test-${randomBytes(12).toString('hex')}`, code: first?.code ?? '', messageTo: raw,
      phone: phone.ok ? phone.e164 : null, body: text, state: 'queued', isTest: true, now: deps.clock(),
    });
    deps.worker.kick();
    if (json) return res.json({ id, state: 'queued' });
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).testQueued, values: { phone: raw, text, test_status: t(holder.lang).states.queued! } });
  });

  router.use('/app', framePageErrors);
  return router;
}
