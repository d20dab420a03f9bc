import cron from 'node-cron';
import type { Deps } from './deps.js';

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
  const tasks = [
    cron.schedule(config.STATUS_POLL_CRON, guard('statuses_job', deps.statusesJob.runOnce), { noOverlap: true }),
    cron.schedule(config.TOKEN_KEEPER_CRON, guard('token_keeper', deps.tokenKeeper.runOnce), { noOverlap: true }),
    cron.schedule(config.PROVIDER_CHECK_CRON, guard('provider_check', deps.providerCheck.runOnce), { noOverlap: true }),
    cron.schedule('41 * * * *', guard('retention', deps.retention.runOnce), { noOverlap: true }),
  ];
  log.info({ statusPollCron: config.STATUS_POLL_CRON, providerCheckCron: config.PROVIDER_CHECK_CRON }, 'background.started');
  return async () => {
    for (const t of tasks) t.stop();
    await Promise.all([deps.worker.stop(), deps.reporter.stop(), deps.queueSignal.close()]);
    // After the worker finished the messages in hand: SMPP binds end with unbind (receipts handled until then).
    await deps.smpp.close();
  };
}
