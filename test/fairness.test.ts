import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HTTP_DEADLINE } from '../src/platform/http.js';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually } from './helpers/wait.js';

// Headers at once, then one byte a second for a minute: each request holds its slot until GATEWAY_TIMEOUT_MS.
const TRICKLE = { kind: 'trickle', status: 202, everyMs: 1_000, bytes: 60 } as const;

let fake: FakeBitrix24;
let ctx: TestContext;
let kannels: FakeKannel[];

/** Portals whose gateway is a Kannel of their own (on 127.0.0.1, hence ALLOW_PRIVATE_GATEWAYS), and one on SMS.ru. */
async function setUp(env: Record<string, string>, kannelPortals: number) {
  fake = await startFakeBitrix24();
  ctx = await createTestContext({ fake, env: { ALLOW_PRIVATE_GATEWAYS: '1', ...env } });
  kannels = [];
  const slow: FakePortal[] = [];
  for (let i = 0; i < kannelPortals; i++) {
    const k = await startFakeKannel();
    const fp = await fake.addPortal();
    await installPortal(ctx, fake, fp, { provider: 'kannel', kannel_url: k.url, kannel_username: k.username, kannel_password: k.password, sender: `Slow${i}` });
    kannels.push(k);
    slow.push(fp);
  }
  const healthy = await fake.addPortal();
  await installPortal(ctx, fake, healthy, { provider: 'smsru', api_key: 'healthy-key', sender: 'FastCo' });
  return { slow, healthy };
}

afterEach(async () => {
  // Closing the gateways first ends the trickling requests, so stopping the worker does not wait for their deadlines.
  await Promise.all(kannels.map((k) => k.close()));
  await ctx.close();
  await fake.close();
});

describe('one tenant does not stall the others: slots are shared fairly', () => {
  let slow: FakePortal[];
  let healthy: FakePortal;
  beforeEach(async () => {
    // Few slots, so that four portals could fill them (4 × GATEWAY_CONCURRENCY = 16 > 8), and a deadline far
    // beyond what the healthy portal's send needs.
    ({ slow, healthy } = await setUp({ WORKER_CONCURRENCY: '8', GATEWAY_CONCURRENCY: '4', GATEWAY_TIMEOUT_MS: '20000' }, 4));
  });

  it('a portal\'s SMS is sent within seconds while four portals with long queues and trickling gateways hold the worker', async () => {
    for (const k of kannels) k.setBehaviour(TRICKLE);
    for (const [p, fp] of slow.entries()) for (let i = 0; i < 6; i++) await postSms(ctx, fp, { to: `+7999000${p}00${i}` }); // 6 > 4 slots each
    ctx.deps.worker.start();
    const requests = () => kannels.reduce((n, k) => n + k.sends, 0);
    // Their backlogs are older than anything the healthy portal will send, and they hold at least every slot
    // outside the reserve (8 − 2): before the fix they held all 8 and every freed slot went back to them.
    await eventually(() => requests() >= 6, 'the trickling gateways to take the worker\'s slots', 5_000);

    const b = await postSms(ctx, healthy, { to: '+79995550000' });
    await eventually(async () => (await messageRow(ctx, b)).state === 'sent', 'the healthy portal\'s SMS to be sent', 5_000);
    expect(kannels.reduce((n, k) => n + k.answers.cutShort, 0)).toBe(0); // no trickle's deadline had passed yet
    expect(requests()).toBeLessThan(8); // together they never held every slot
    for (const k of kannels) expect(k.sends).toBeLessThanOrEqual(4); // nor one portal more than its own
  }, 30_000);
});

describe('an account whose sends are slow', () => {
  let slow: FakePortal[];
  beforeEach(async () => {
    ({ slow } = await setUp({ WORKER_CONCURRENCY: '8', GATEWAY_CONCURRENCY: '4', GATEWAY_TIMEOUT_MS: '1500' }, 1));
  });

  it('keeps a single slot after a send hit the deadline, until one of its sends completes quickly again', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await postSms(ctx, slow[0]!, { to: `+799900000${String(i).padStart(2, '0')}` }));
    kannels[0]!.setBehaviour(TRICKLE);
    expect(await ctx.deps.worker.runOnce()).toBe(4); // nothing known about it yet: its whole GATEWAY_CONCURRENCY
    expect(await messageRow(ctx, ids[0]!)).toMatchObject({ state: 'sending', gateway_status: HTTP_DEADLINE });
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    expect(await ctx.deps.worker.runOnce()).toBe(1);

    kannels[0]!.setBehaviour({ kind: 'kannel' });
    expect(await ctx.deps.worker.runOnce()).toBe(1); // answered at once
    expect(await ctx.deps.worker.runOnce()).toBe(4); // and the account has its slots back
    expect(kannels[0]!.sends).toBe(11); // the 6 cut at the deadline are unknown outcomes, never resent
  }, 30_000);
});
