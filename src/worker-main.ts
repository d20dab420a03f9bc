import { boot, onShutdown } from './boot.js';
import { startBackground } from './runtime.js';

// `npm run worker`: the send worker, status reporter and jobs alone, for deployments that split web and workers.
const { log, deps } = await boot();
const stop = startBackground(deps);
onShutdown(log, async () => {
  await stop();
  await deps.db.destroy();
});
