import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServiceProcess } from './helpers/service-process.js';

/**
 * A container runtime or a supervisor signals the process it started, which for `npm start` is npm: the service
 * must stop as it does on its own SIGTERM (finish what it has in hand, close the database), with nothing left running.
 */
let svc: Awaited<ReturnType<typeof startServiceProcess>>;
beforeAll(async () => {
  svc = await startServiceProcess({ install: { provider: 'smsru', api_key: 'signal-key', sender: 'MyShop' }, serviceEnv: { WORKER_PROCESS: '1', LOG_LEVEL: 'warn' } });
}, 120_000);
afterAll(() => svc?.close());

const alive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

it('SIGTERM to npm start\'s own process stops the web process and its background process, and nothing is left', async () => {
  const pgid = svc.web.pid!;
  process.kill(pgid, 'SIGTERM'); // npm only, not its group
  for (let i = 0; i < 100 && alive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
  expect(alive(pgid)).toBe(false);
  expect(await fetch(`${svc.url}/healthz`).then(() => 'answered', () => 'refused')).toBe('refused');
}, 60_000);
