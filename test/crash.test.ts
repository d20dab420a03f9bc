import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { requireKannel, startKannel } from './helpers/kannel.js';
import { startSwallowingProxy } from './helpers/proxy.js';
import { createListeningContext, eventually } from './helpers/server.js';

requireKannel();

let fake: FakeBitrix24;
let fp: FakePortal;
let kannel: Awaited<ReturnType<typeof startKannel>>;
let ctx: Awaited<ReturnType<typeof createListeningContext>>;

beforeAll(async () => {
  kannel = await startKannel();
  fake = await startFakeBitrix24();
  fp = await fake.addPortal();
  ctx = await createListeningContext({ fake, env: { UNKNOWN_OUTCOME_WINDOW: '2s', ALLOW_PRIVATE_GATEWAYS: '1' } });
  await installPortal(ctx, fake, fp, { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'MyShop' });
}, 60_000);
afterAll(async () => {
  await ctx?.close();
  await fake?.close();
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
    await eventually(() => proxy.connections >= 10, 'the worker to put all 10 requests in flight', 30_000).catch((err) => {
      throw new Error(`${err.message}; worker stderr: ${stderr.slice(0, 2000)}`);
    });
    await eventually(async () => (await kannelSent()) === 6, 'Kannel to send the 6 that reached it', 15_000);
  } finally {
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
  }
  const inFlight = await ctx.db('messages').whereNotNull('submitted_at');
  expect(inFlight).toHaveLength(10);

  // The next worker (this process) starts after the lease: it must not resend anything in flight.
  await ctx.deps.settings.save(portal.id, { gateway: 'kannel', credentials: { url: kannel.url, username: kannel.username, password: kannel.password } }, Date.now());
  ctx.deps.accounts.forget(portal.id);
  await new Promise((r) => setTimeout(r, 3100));
  await ctx.deps.worker.runOnce();
  // Those that reached Kannel are settled by their DLRs; the rest fail "outcome unknown" once the window passes.
  await eventually(async () => (await ctx.db('messages').where({ state: 'delivered' })).length === 6, 'the DLRs of the 6 that reached Kannel');
  await new Promise((r) => setTimeout(r, 2100));
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
