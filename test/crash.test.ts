import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { requireKannel, startKannel, type Kannel } from './helpers/kannel.js';
import { startSwallowingProxy } from './helpers/proxy.js';
import type { ListeningContext } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

requireKannel();

let fake: FakeBitrix24;
let fp: FakePortal;
let kannel: Kannel;
let ctx: ListeningContext;
let close: (() => Promise<void>) | undefined;
// This process's clock runs ahead of the real one by `skew`: the worker process stamps its leases with real time, and
// moving only our clock past them (and past UNKNOWN_OUTCOME_WINDOW) stands for the wait without sleeping through it.
let skew = 0;

beforeAll(async () => {
  kannel = await startKannel();
  ({ fake, fp, ctx, close } = await installedPortal({
    listening: true, clock: () => Date.now() + skew, env: { UNKNOWN_OUTCOME_WINDOW: '2s', ALLOW_PRIVATE_GATEWAYS: '1' },
    install: { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'MyShop' },
  }));
}, 60_000);
afterAll(async () => {
  await close?.();
  await kannel?.stop();
});

const kannelSent = async () => Number((await kannel.status()).match(/SMS: received \d+ \(\d+ queued\), sent (\d+)/)?.[1]);

it('a worker process killed with sends in flight: nothing is sent twice and every message gets a final status', async () => {
  // 6 requests reach Kannel and lose their answer; 4 never reach it. The worker then dies with all 10 in flight.
  const port = Number(new URL(kannel.url).port);
  const proxy = await startSwallowingProxy({ host: '127.0.0.1', port }, 6);
  const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
  await ctx.deps.settings.save(portal.id, { gateway: 'kannel', credentials: { url: proxy.url, username: kannel.username, password: kannel.password } }, Date.now());

  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push((await fake.dispatchSms(fp, { code: 'smsgw_myshop', to: `+7999000${String(i).padStart(4, '0')}`, text: `crash ${i}` })).id);

  const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker-main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: ctx.config.DATABASE_URL,
      ...(ctx.dbSchema ? { DATABASE_SCHEMA: ctx.dbSchema } : {}),
      SECRET_KEY: TEST_SECRET_KEY,
      PUBLIC_URL: ctx.publicUrl,
      B24_OAUTH_URL: fake.oauthUrl,
      B24_CLIENT_ID: fake.clientId,
      B24_CLIENT_SECRET: fake.clientSecret,
      WORKER_LEASE: '3s',
      ALLOW_PRIVATE_GATEWAYS: '1', // Kannel and the proxy listen on 127.0.0.1
      GATEWAY_CONCURRENCY: '16',
      GATEWAY_TIMEOUT_MS: '600000',
      STATUS_POLL_CRON: '0 0 1 1 *',
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  worker.stderr!.on('data', (d) => (stderr += d));
  try {
    await eventually(() => proxy.connections >= 10, 'the worker to put all 10 requests in flight', 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; worker stderr: ${stderr.slice(0, 2000)}`);
    });
    await eventually(async () => (await kannelSent()) === 6, 'Kannel to send the 6 that reached it', 15_000);
  } finally {
    const exited = worker.exitCode !== null || worker.signalCode !== null ? Promise.resolve() : once(worker, 'exit');
    worker.kill('SIGKILL');
    await exited;
  }
  const inFlight = await ctx.db('messages').whereNotNull('submitted_at');
  expect(inFlight).toHaveLength(10);

  // The next worker (this process) starts after the lease: it must not resend anything in flight.
  await ctx.deps.settings.save(portal.id, { gateway: 'kannel', credentials: { url: kannel.url, username: kannel.username, password: kannel.password } }, Date.now());
  ctx.deps.accounts.forget(portal.id);
  skew += 3_100; // WORKER_LEASE (3 s) has passed for every claim the dead worker held
  await ctx.deps.worker.runOnce();
  // Those that reached Kannel are settled by their DLRs; the rest fail "outcome unknown" once the window passes.
  await eventually(async () => (await ctx.db('messages').where({ state: 'delivered' })).length === 6, 'the DLRs of the 6 that reached Kannel');
  skew += 2_100; // UNKNOWN_OUTCOME_WINDOW (2 s) has passed for the 4 that never reached Kannel
  await ctx.deps.statusesJob.runOnce();
  await ctx.deps.reporter.runOnce();

  const shown = ids.map((id) => fp.shown.get(id));
  expect(shown.filter((s) => s === 'delivered')).toHaveLength(6);
  expect(shown.filter((s) => s === 'failed')).toHaveLength(4);
  const failed = await ctx.db('messages').where({ state: 'failed' });
  expect(failed.every((m) => m.failure_reason === 'outcome unknown: no delivery report from the gateway')).toBe(true);
  expect(await kannelSent()).toBe(6); // nothing was sent twice
  await proxy.close();
}, 90_000);
