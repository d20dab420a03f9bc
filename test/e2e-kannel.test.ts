import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { formState, openInstallPage, submitInstallForm } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { requireKannel, startKannel, type Kannel } from './helpers/kannel.js';
import type { ListeningContext } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

requireKannel();

let fake: FakeBitrix24;
let fp: FakePortal;
let kannel: Kannel;
let ctx: ListeningContext;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  kannel = await startKannel();
  // The fake Bitrix24 has Bitrix24's real limits: burst 50, 2 requests/s.
  ({ fake, fp, ctx, close } = await installedPortal({
    listening: true, env: { REPORT_LINGER: '500ms', ALLOW_PRIVATE_GATEWAYS: '1' },
    install: { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'MyShop' },
  }));
  ctx.deps.worker.start();
  ctx.deps.reporter.start();
}, 60_000);
afterAll(async () => {
  await close?.();
  await kannel?.stop();
});

describe('end to end through a real Kannel', () => {
  it('200 SMS from Bitrix24 are sent, their DLRs come back, and Bitrix24 shows all 200 delivered in batches that fill or wait', async () => {
    const ids: string[] = [];
    const started = performance.now();
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, j) => fake.dispatchSms(fp, { code: 'smsgw_myshop', to: `+7 (999) ${String(1000000 + i + j).slice(1, 4)}-${String(i + j).padStart(4, '0')}`, text: (i + j) % 2 ? 'Hello from the CRM' : 'Привет из CRM' })),
      );
      for (const r of batch) ids.push(r.id);
    }
    await eventually(() => ids.every((id) => fp.shown.get(id) === 'delivered'), 'all 200 delivered in Bitrix24');

    const elapsedMs = performance.now() - started;

    // Fill or flush: a batch call carries 50 statuses, or flushes a remainder that waited REPORT_LINGER (500 ms), so
    // partial calls come at most once per 500 ms however fast or slow the DLRs trickle in on this machine.
    const batches = fp.calls.filter((c) => c.method === 'batch' && !c.batched);
    const sizes = batches.map((c) => Object.keys((c.params.cmd ?? {}) as object).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(sizes.filter((n) => n < 50).length).toBeLessThanOrEqual(Math.ceil(elapsedMs / 500) + 1);
    expect(fp.limitHits).toBe(0);
    const rows = await ctx.db('messages').select('state', 'gateway', 'segments', 'encoding', 'sender');
    expect(rows).toHaveLength(200);
    expect(rows.every((r) => r.state === 'delivered' && r.gateway === 'kannel' && r.segments === 1 && r.sender === 'MyShop')).toBe(true);
    expect(rows.filter((r) => r.encoding === 'UCS-2')).toHaveLength(100);
    // Every SMS left Kannel exactly once.
    expect(Number((await kannel.status()).match(/SMS: received \d+ \(\d+ queued\), sent (\d+)/)?.[1])).toBe(200);
  }, 120_000);

  it('the install form refuses Kannel credentials that Kannel refuses', async () => {
    const other = await fake.addPortal();
    const page = await openInstallPage(ctx, fake, other);
    const res = await submitInstallForm(ctx, formState(page.text), { provider: 'kannel', kannel_url: kannel.url, kannel_username: 'nobody', kannel_password: 'wrong', sender: '' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Kannel refused the username or password');
  });
});
