import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { boot, errorText, onShutdown, startupFailed } from './boot.js';
import { startBackground } from './runtime.js';
import { forkBackground } from './background-process.js';
import { createApp, createHttpServer } from './web/app.js';

// `npm start`: the web app, and (unless WORKER_ENABLED=0) the send worker and jobs: in a second process on a machine
// with more than one core (WORKER_PROCESS=auto), in this one otherwise.
const { config, log, deps } = await boot();
const server = createHttpServer(createApp(deps));
// The background process is started only once the port is ours: a second `npm start` on a taken port must not
// leave a worker behind.
await new Promise<void>((resolve) => {
  const failed = (err: NodeJS.ErrnoException) => void startupFailed(listenError(err));
  server.once('error', failed);
  server.listen(config.PORT, config.HOST, () => (server.off('error', failed), resolve()));
});
log.info({ port: (server.address() as AddressInfo).port, host: config.HOST, db: config.databaseClient }, 'server.started');
const separate = config.WORKER_PROCESS === 'auto' ? os.availableParallelism() > 1 : config.WORKER_PROCESS === '1';
if (separate && config.WORKER_ENABLED && config.databaseClient === 'better-sqlite3') {
  // SQLite copies its write-ahead log into the database file (a checkpoint) inside whichever commit finds the log
  // past the connection's threshold (1,000 pages); in this process that held the event loop, and every request with
  // it, for 5–24 ms, ~85 times in 15 s of the latency bench. The background process claims, records and reports
  // whatever intake stores, so its commits pass 1,000 pages first and checkpoint instead. This process still does at
  // 4,000 pages (16 MB): while the background process starts, restarts or sits idle, the log stays bounded.
  await deps.db.raw('PRAGMA wal_autocheckpoint = 4000');
}
const stopBackground = !config.WORKER_ENABLED ? async () => {} : separate ? forkBackground(deps) : startBackground(deps);
onShutdown(log, async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await stopBackground();
  await deps.db.destroy();
});

/** Which setting to look at when the port cannot be had. */
function listenError(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return `PORT (${config.PORT}): already in use on HOST ${config.HOST}`;
  if (err.code === 'EACCES') return `PORT (${config.PORT}): permission denied (ports under 1024 need privileges)`;
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return `HOST (${config.HOST}): no such host: ${errorText(err)}`;
  if (err.code === 'EADDRNOTAVAIL') return `HOST (${config.HOST}): not an address of this machine`;
  return `HOST, PORT (${config.HOST}:${config.PORT}): cannot listen: ${errorText(err)}`;
}
