import { Router } from 'express';
import type { Config } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import { homePage } from '../../views/home.js';
import { GATEWAYS } from '../gateways/index.js';
import { browserLang } from './i18n.js';
import { readiness, SCOPES } from './readiness.js';

/**
 * `GET /`: what a person who opens the service's address sees (`POST /` is the app's page inside Bitrix24). JSON for
 * a client that asks for it.
 */
export function homeRoutes(deps: { config: Pick<Config, 'PUBLIC_URL' | 'B24_CLIENT_ID' | 'B24_CLIENT_SECRET'>; db: Db; settings: Pick<SettingsRepo, 'configuredByGateway'> }) {
  const router = Router();
  router.get('/', async (req, res) => {
    const r = await readiness(deps);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Vary', 'Accept, Accept-Language');
    if (req.accepts(['html', 'json']) === 'json') {
      const { appUrl, installUrl, ...checks } = r;
      return res.json({ ...checks, bitrix24: { appUrl, installUrl, scopes: SCOPES } });
    }
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    res.type('html').send(homePage({ lang: browserLang(req.get('accept-language')), readiness: r, publicUrl: deps.config.PUBLIC_URL, gateways: GATEWAYS }).toString());
  });
  return router;
}
