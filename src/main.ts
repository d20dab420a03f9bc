import os from 'node:os';
import http from 'node:http';
import { boot, onShutdown } from './boot.js';
import { startBackground } from './runtime.js';
import { forkBackground } from './background-process.js';
import { createApp } from './web/app.js';

// `npm start`: the web app, and (unless WORKER_ENABLED=0) the send worker and jobs: in a second process on a machine
// with more than one core (WORKER_PROCESS=auto), in this one otherwise.
const { config, log, deps } = await boot();
const server = http.createServer(createApp(deps));
server.listen(config.PORT, config.HOST, () => {
  log.info({ port: config.PORT, host: config.HOST, db: config.databaseClient }, 'server.started');
});
const separate = config.WORKER_PROCESS === 'auto' ? os.availableParallelism() > 1 : config.WORKER_PROCESS === '1';
const stopBackground = !config.WORKER_ENABLED ? async () => {} : separate ? forkBackground(deps) : startBackground(deps);
onShutdown(log, async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await stopBackground();
  await deps.db.destroy();
});
