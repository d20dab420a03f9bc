import cron from 'node-cron';
import type { Deps } from './deps.js';
import type { Log } from './platform/logger.js';

/**
 * node-cron writes its own lines to the console, one WARN per tick while a run is still in flight (noOverlap) or
 * when a tick came late. Given to each task, through our log instead: the skipped tick is expected (the run in flight
 * logs its own end) and goes at debug; a late tick is a warning with a stable name; errors stay errors.
 */
function cronLogger(log: Log) {
  return {
    info: (message: string) => log.debug({ message }, 'cron.info'),
    warn: (message: string) =>
      /overlap/i.test(message) ? log.debug({ message }, 'cron.tick_skipped') : log.warn({ message }, 'cron.tick_late'),
    error: (message: string | Error, err?: Error) =>
      log.error({ message: message instanceof Error ? message.message : message, err: err?.stack ?? (message instanceof Error ? message.stack : undefined) }, 'cron.error'),
    debug: () => {},
  };
}

/**
 * Starts the background work of a process: send worker, status reporter, statuses job, token keeper, provider check,
 * retention.
 */
export function startBackground(deps: Deps) {
  const { log, config } = deps;
  deps.worker.start();
  deps.reporter.start();
  void deps.queueSignal.listen(() => deps.worker.kick());
  // The promise is returned: node-cron's noOverlap waits for it, so a run still in flight is never started twice.
  const guard = (name: string, job: () => Promise<unknown>) => () =>
    job().catch((err) => log.error({ err: String(err) }, `${name}.failed`));
  const logger = cronLogger(log);
  const options = () => ({ noOverlap: true, logger }); // one object per task: node-cron keeps it
  const tasks = [
    cron.schedule(config.STATUS_POLL_CRON, guard('statuses_job', deps.statusesJob.runOnce), options()),
    cron.schedule(config.TOKEN_KEEPER_CRON, guard('token_keeper', deps.tokenKeeper.runOnce), options()),
    cron.schedule(config.PROVIDER_CHECK_CRON, guard('provider_check', deps.providerCheck.runOnce), options()),
    cron.schedule('41 * * * *', guard('retention', deps.retention.runOnce), options()),
  ];
  log.info({ statusPollCron: config.STATUS_POLL_CRON, providerCheckCron: config.PROVIDER_CHECK_CRON }, 'background.started');
  return async () => {
    for (const t of tasks) t.stop();
    await Promise.all([deps.worker.stop(), deps.reporter.stop(), deps.queueSignal.close()]);
    // After the worker finished the messages in hand: SMPP binds end with unbind (receipts handled until then).
    await deps.smpp.close();
  };
}
