import { boot, onShutdown } from './boot.js';
import { startBackground } from './runtime.js';
import { serveParent } from './background-process.js';

// `npm run worker`: the send worker, status reporter and jobs alone, for deployments that split web and workers;
// also `npm start`'s background process, which then listens to the web process (serveParent).
const { log, deps } = await boot();
const stop = startBackground(deps);
const shutdown = onShutdown(log, async () => {
  await stop();
  await deps.db.destroy();
});
serveParent(deps, () => shutdown('parent gone'));
