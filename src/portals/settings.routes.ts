import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';
import { B24Error } from '../bitrix/errors.js';
import { normalizePhone } from '../messages/phone.js';
import { formBody } from '../web/form.js';
import { t, type Lang } from '../web/i18n.js';
import type { FormTokens } from './form-token.js';
import { explain, framePageErrors, openFormToken, readFramePost, registrationFailure, sendAuthFailure } from './frame-page.js';
import { checkFailureField, checkFailureText, parseSubmission, senderField } from './gateway-form.js';
import { SMPP_FORM_FIELDS } from './smpp-form.js';
import type { PortalRepo } from './portal-repo.js';
import type { SettingsRepo } from './settings-repo.js';
import { GatewayCheckFailed, type SettingsService } from './settings.service.js';
import type { SettingsViewRenderer } from './settings-view.js';
import type { ConnectionCheck, ConnectionState } from './connection-check.js';
import { senderCode } from './providers.js';
import { COUNTRIES } from '../../views/settings-page.js';

/**
 * The app's page inside Bitrix24 (`POST /`, opened in a frame like the install page) and its administrators'
 * actions. Every action carries a form token minted for that action and for an administrator.
 */
export function settingsRoutes(deps: {
  settingsService: SettingsService;
  settingsView: SettingsViewRenderer;
  settings: Pick<SettingsRepo, 'get' | 'senders'>;
  portals: PortalRepo;
  formTokens: FormTokens;
  connection: Pick<ConnectionCheck, 'start' | 'status'>;
  config: Pick<Config, 'ALLOW_PRIVATE_GATEWAYS' | 'PUBLIC_URL'>;
}) {
  const router = Router();
  const service = deps.settingsService;
  const view = deps.settingsView;

  router.post('/', formBody, async (req, res) => {
    const frame = readFramePost(req, res);
    if (!frame) return;
    const { lang } = frame;
    let opened;
    try {
      opened = await service.openFrame(frame.auth);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return sendAuthFailure(res, lang, err);
    }
    const { portal, viewer } = opened;
    await view.render(res, 200, { pid: portal.id, mid: portal.memberId, uid: viewer.userId, admin: viewer.admin, lang }, portal, { withBalance: true });
  });

  router.post('/app/gateway', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.gateway');
    const saved = await deps.settings.get(portal.id);
    const input = parseSubmission(req.body ?? {}, holder.lang, saved, { allowPrivate: deps.config.ALLOW_PRIVATE_GATEWAYS });
    const values = Object.fromEntries(['provider', 'kannel_url', 'kannel_username', 'kannel_max_parts', 'smscru_login', ...SMPP_FORM_FIELDS].map((k) => [k, String(req.body?.[k] ?? '')]));
    const country = z.enum(COUNTRIES).optional().safeParse(req.body?.default_country || undefined);
    if (!country.success) return view.render(res, 422, holder, portal, { values, errors: { ...(input.ok ? {} : input.errors), default_country: t(holder.lang).form.chooseCountry } });
    if (!input.ok) return view.render(res, 422, holder, portal, { values, errors: input.errors });
    let updated;
    try {
      updated = await service.updateGateway(portal.id, input, country.data);
    } catch (err) {
      if (!(err instanceof GatewayCheckFailed)) throw err;
      return view.render(res, 422, holder, portal, { values, errors: { [checkFailureField(input.gateway, err.check)]: checkFailureText(holder.lang, input.gateway, err.check) } });
    }
    // Saved; the providers' new names (sandbox or not) did not reach Bitrix24: said, and the provider check retries.
    const alert = updated.renameFailed ? registrationFailure(updated.renameFailed, holder.lang).alert : undefined;
    await view.render(res, 200, holder, updated.portal, { flash: t(holder.lang).saved, alert, withBalance: true });
  });

  router.post('/app/senders/add', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.senders.add');
    const name = senderField(holder.lang).safeParse(req.body?.sender_name);
    if (!name.success) return view.render(res, 422, holder, portal, { values: { sender_name: String(req.body?.sender_name ?? '') }, errors: { sender_name: name.error.issues[0]!.message } });
    // Names that differ only in case or punctuation make the same provider CODE: the second would rename the first.
    const clash = (await deps.settings.senders(portal.id)).find((s) => s.code === senderCode(name.data) && s.name !== name.data);
    if (clash) return view.render(res, 422, holder, portal, { values: { sender_name: name.data }, errors: { sender_name: t(holder.lang).form.senderNameClash(clash.name || t(holder.lang).defaultSenderName) } });
    try {
      await service.addSender(portal.id, name.data);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      const { status, alert } = registrationFailure(err, holder.lang);
      return view.render(res, status, holder, portal, { alert });
    }
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).senderAdded });
  });

  router.post('/app/senders/remove', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.senders.remove');
    try {
      await service.removeSender(portal.id, String(req.body?.code ?? ''));
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      return view.render(res, 502, holder, portal, { alert: explain(err, holder.lang) });
    }
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).senderRemoved });
  });

  /** A test SMS goes through intake like Bitrix24's; it is never reported to Bitrix24. */
  router.post('/app/test-sms', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.test-sms');
    const json = req.accepts(['html', 'json']) === 'json';
    const raw = String(req.body?.phone ?? '').trim();
    const text = String(req.body?.text ?? '').trim();
    const phone = normalizePhone(raw, portal.defaultCountry);
    const errors: Record<string, string> = {};
    if (!phone.ok) errors.phone = phone.code === 'unreadable' ? t(holder.lang).phone.unreadable : t(holder.lang).phone.not_valid_for(phone.country);
    if (!text || text.length > 1000) errors.text = t(holder.lang).form.testText;
    if (Object.keys(errors).length) {
      if (json) return res.status(422).json({ error: 'invalid_request', message: Object.values(errors).join('; '), fields: errors });
      return view.render(res, 422, holder, portal, { values: { phone: raw, text }, errors });
    }
    const id = await service.sendTest(portal, { messageTo: raw, text });
    if (json) return res.json({ id, state: 'queued' });
    await view.render(res, 200, holder, portal, { flash: t(holder.lang).testQueued, values: { phone: raw, text, test_status: t(holder.lang).states.queued! } });
  });

  /**
   * "Check the connection": Bitrix24 sends a test event through its event queue (event.test); the answer says at
   * once whether it already arrived, and the page polls the status route until it did or the wait is over.
   */
  router.post('/app/connection-check', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.connection-check');
    const json = req.accepts(['html', 'json']) === 'json';
    let answer;
    try {
      answer = connectionAnswer(await deps.connection.start(portal.id), holder.lang);
    } catch (err) {
      if (!(err instanceof B24Error)) throw err;
      answer = { state: 'failed', message: t(holder.lang).onPremise.connectionFailed(explain(err, holder.lang)) };
    }
    const status = answer.state === 'failed' ? 502 : 200;
    if (json) return res.status(status).json(answer);
    await view.render(res, status, holder, portal, { connection: answer });
  });

  router.post('/app/connection-check/status', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.connection-status');
    const answer = connectionAnswer(await deps.connection.status(portal.id), holder.lang);
    if (req.accepts(['html', 'json']) === 'json') return res.json(answer);
    await view.render(res, 200, holder, portal, { connection: answer });
  });

  /** A check's state in the administrator's words; a lost event comes with what to open in the firewall. */
  function connectionAnswer(c: ConnectionState, lang: Lang): { state: string; message: string } {
    const tx = t(lang).onPremise;
    if (c.state === 'arrived') return { state: c.state, message: tx.connectionArrived };
    if (c.state === 'waiting') return { state: c.state, message: tx.connectionChecking };
    if (c.state === 'lost') return { state: c.state, message: tx.connectionLost(c.waitedSeconds, new URL(deps.config.PUBLIC_URL).host) };
    return { state: c.state, message: '' };
  }

  router.use('/app', framePageErrors);
  return router;
}
