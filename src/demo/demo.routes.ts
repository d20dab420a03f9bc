import express, { Router, type Request, type Response } from 'express';
import { browserLang, t, type Lang } from '../web/i18n.js';
import { str } from '../web/form.js';
import { demoPage } from '../../views/demo-page.js';
import { demoFramePost } from '../../views/demo-frame.js';
import { BX24_SDK } from './bx24-sdk.js';
import { CrmInputError, type Crm } from './crm.js';
import type { SimulatedBitrix24, SimulatedPortal } from './simulated-bitrix24/bitrix24.js';

const form = express.urlencoded({ extended: false, limit: '16kb' });
const FRAMES: Record<string, string> = { install: '/install', app: '/' };
const refusal = (err: CrmInputError, lang: Lang) => (err.code === 'no_provider' ? t(lang).demo.noProviders : t(lang).demo.badInput);

/**
 * The simulated portal's own pages (everything outside /rest/ on its address): the demo page, what its script
 * polls, and what Bitrix24 itself provides around an app (the frame's POST, the JS SDK).
 */
export function demoRoutes(deps: { b24: SimulatedBitrix24; portal: SimulatedPortal; crm: Crm; appUrl: string; adminPassword: string }) {
  const { b24, portal, crm } = deps;
  const router = Router();
  const langOf = (req: Request): Lang => browserLang(req.get('accept-language'));
  const wantsJson = (req: Request) => req.accepts(['html', 'json']) === 'json';

  function page(res: Response, status: number, lang: Lang, extra: { error?: string; values?: Record<string, string> } = {}) {
    res.status(status).type('html').send(demoPage({
      lang, portalDomain: portal.domain, appOrigin: deps.appUrl, installed: portal.installed, providers: crm.providers(lang),
      messages: crm.cardMessages(), rule: crm.ruleProgress(), consoleUrl: `${deps.appUrl}/admin`, homeUrl: `${deps.appUrl}/`,
      adminPassword: deps.adminPassword, ...extra,
    }).toString());
  }

  router.get('/', (_req, res) => res.redirect(302, '/demo'));
  router.get('/demo', (req, res) => page(res, 200, langOf(req)));

  /** The messages sent from the card, each with the status the portal shows (`sent` until the app reports). */
  router.get('/demo/messages', (_req, res) => res.json(crm.cardMessages()));

  router.post('/demo/send', form, async (req, res) => {
    const lang = langOf(req);
    const input = { to: str(req.body?.to) ?? '', text: str(req.body?.text) ?? '', code: str(req.body?.code) };
    try {
      const sms = await crm.sendFromCard(input);
      if (wantsJson(req)) return res.json(sms);
      res.redirect(303, '/demo#card');
    } catch (err) {
      if (!(err instanceof CrmInputError)) throw err;
      const message = refusal(err, lang);
      if (wantsJson(req)) return res.status(422).json({ error: 'invalid_request', message });
      page(res, 422, lang, { error: message, values: { to: input.to, text: input.text, code: input.code ?? '' } });
    }
  });

  router.get('/demo/state', (req, res) => res.json({ installed: portal.installed, providers: crm.providers(langOf(req)) }));

  router.post('/demo/rule', form, (req, res) => {
    const lang = langOf(req);
    let started;
    try {
      started = crm.runRule(str(req.body?.text) ?? '');
    } catch (err) {
      if (!(err instanceof CrmInputError)) throw err;
      const message = refusal(err, lang);
      return wantsJson(req) ? res.status(422).json({ error: 'invalid_request', message }) : page(res, 422, lang, { error: message });
    }
    if (wantsJson(req)) return started ? res.status(202).json({ started }) : res.status(409).json({ error: 'busy', message: t(lang).demo.ruleBusy });
    res.redirect(303, '/demo#rule');
  });

  router.get('/demo/rule', (req, res) => {
    const p = crm.ruleProgress();
    res.json({ ...p, text: p.total ? t(langOf(req)).demo.ruleProgress(p.final, p.total) : '' });
  });

  /** The app's page called BX24.installFinish(): from now on Bitrix24 counts the app as installed (reference §4). */
  router.post('/demo/install-finish', (_req, res) => {
    void b24.finishInstall(portal); // ONAPPINSTALL goes out after the answer, as the cloud queue's events do
    res.status(204).end();
  });

  /** What Bitrix24 puts in the app's frame: a POST of the administrator's fresh tokens to the app's page. */
  router.get('/demo/frame/:page', (req, res) => {
    const path = FRAMES[String(req.params.page)];
    if (!path) return res.status(404).type('text').send('no such page');
    const tokens = b24.issueTokens(portal, 1);
    const query = new URLSearchParams({ DOMAIN: portal.domain, PROTOCOL: '0', LANG: langOf(req), APP_SID: tokens.accessToken.slice(0, 16) });
    res.type('html').send(demoFramePost({
      action: `${deps.appUrl}${path}?${query}`,
      fields: {
        AUTH_ID: tokens.accessToken, AUTH_EXPIRES: '3600', REFRESH_ID: tokens.refreshToken, SERVER_ENDPOINT: `${b24.oauthUrl}/rest/`,
        member_id: portal.memberId, status: 'L', PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: '{}', // no APPLICATION_TOKEN: core app.layout posts none
      },
    }).toString());
  });

  router.get('/bx24.js', (_req, res) => res.type('application/javascript').send(BX24_SDK));

  return router;
}
