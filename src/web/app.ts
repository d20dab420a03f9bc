import express from 'express';
import type { Deps } from '../deps.js';
import { errorHandler } from './error-handler.js';
import { installRoutes } from '../portals/install.routes.js';
import { settingsRoutes } from '../portals/settings.routes.js';
import { consoleRoutes } from '../console/console.routes.js';
import { eventsRoutes } from '../portals/events.routes.js';
import { intakeRoutes } from '../messages/intake.routes.js';
import { dlrRoutes } from '../delivery/dlr.routes.js';

/** Builds the Express app from its dependencies; never listens. */
export function createApp(deps: Deps) {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.get('/healthz', async (_req, res) => {
    try {
      await deps.db.raw('select 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', message: 'the database does not answer' });
    }
  });

  app.get('/metrics', async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await deps.metrics.render());
  });

  app.use('/handler', (_req, res, next) => {
    const started = performance.now();
    res.on('finish', () => deps.metrics.handlerLatency.observe((performance.now() - started) / 1000, { status: String(res.statusCode) }));
    next();
  });
  app.use(intakeRoutes(deps));
  app.use(dlrRoutes({ ...deps, onSettled: () => deps.reporter.kick() }));
  app.use(installRoutes(deps));
  app.use(settingsRoutes(deps));
  app.use(consoleRoutes(deps));
  app.use(eventsRoutes(deps));

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  app.use(errorHandler(deps.log));
  return app;
}
