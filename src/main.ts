import { boot, onShutdown } from './boot.js';
import { startBackground } from './runtime.js';
import { createApp } from './web/app.js';

// `npm start`: the web app, and (unless WORKER_ENABLED=0) the send worker and jobs in the same process.
const { config, log, deps } = await boot();
const server = createApp(deps).listen(config.PORT, config.HOST, () => {
  log.info({ port: config.PORT, host: config.HOST, db: config.databaseClient }, 'server.started');
});
const stopBackground = config.WORKER_ENABLED ? startBackground(deps) : async () => {};
// Intake wakes the in-process worker directly; a separate `npm run worker` also polls every second.
onShutdown(log, async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await stopBackground();
  await deps.db.destroy();
});
