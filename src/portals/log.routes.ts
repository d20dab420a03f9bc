import { Router } from 'express';
import type { Clock } from '../platform/clock.js';
import { AppError } from '../platform/errors.js';
import { createExportGate, streamCsv } from '../messages/log-export.js';
import type { LogRepo } from '../messages/log-repo.js';
import { formBody } from '../web/form.js';
import { t } from '../web/i18n.js';
import type { FormTokens } from './form-token.js';
import { framePageErrors, openFormToken } from './frame-page.js';
import type { PortalRepo } from './portal-repo.js';
import { filterFrom, logQuery, type SettingsViewRenderer } from './settings-view.js';
import { rowId } from '../platform/ids.js';

/**
 * The portal's message log inside the app's page: everyone who may open the app sees it (numbers masked for
 * non-administrators). Navigation and the CSV export post a log token in the body.
 */
export function logRoutes(deps: { settingsView: SettingsViewRenderer; logs: LogRepo; portals: PortalRepo; formTokens: FormTokens; clock: Clock }) {
  const router = Router();
  const view = deps.settingsView;
  const exports = createExportGate({ perMinute: 5, clock: deps.clock });

  router.post('/app/log', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.log');
    await view.render(res, 200, holder, portal, { query: req.body });
  });

  router.post('/app/log.csv', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.log');
    const gate = exports.enter(portal.id);
    if (!gate.ok) {
      res.setHeader('Retry-After', String(gate.retryAfterS));
      throw new AppError('too_many_exports', 429, t(holder.lang).tooManyExports);
    }
    try {
      const q = logQuery.parse(req.body ?? {});
      res.type('text/csv; charset=utf-8').attachment(`sms-log-${portal.domain.replace(/[^a-z0-9.-]/gi, '_')}.csv`);
      res.setHeader('Cache-Control', 'no-store');
      await streamCsv(res, deps.logs, portal.id, filterFrom(q), q.full === '1' && holder.admin);
    } finally {
      gate.release();
    }
  });

  router.post('/app/messages/:id', formBody, async (req, res) => {
    const { holder, portal } = await openFormToken(deps, req, res, 'app.message');
    const id = rowId(req.params.id);
    const e = id === undefined ? undefined : await deps.logs.byId(portal.id, id);
    if (!e) throw new AppError('not_found', 404, 'no such message');
    res.json({ id: e.id, state: e.state, reason: e.reason === null ? null : t(holder.lang).logReason(e.reason) });
  });

  router.use('/app', framePageErrors);
  return router;
}
