import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { startFakeSmscRu, type FakeSmscRu } from './fakes/smscru.js';
import type { TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';

/**
 * After ONAPPUNINSTALL (without CLEAN) nothing can reach the portal's Bitrix24 and its delivery reports are dropped:
 * the statuses job no longer asks its gateway about its messages with its credentials, and the messages still end
 * (STATUS_MAX_AGE, UNKNOWN_OUTCOME_WINDOW) as before.
 */
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;
let now: number;
const clock = () => now;
const hours = (n: number) => (now += n * 3_600_000);
afterEach(() => close());

/** The administrator uninstalls the app in Bitrix24 (its tokens die there), and its ONAPPUNINSTALL arrives. */
function uninstall() {
  return request(ctx.app).post('/events').type('form').send(fake.uninstallApp(fp, { clean: false }).body);
}

describe('the statuses job and an uninstalled portal', () => {
  it('an SMS.ru portal: its messages are no longer asked about, and still end undelivered "expired" after STATUS_MAX_AGE', async () => {
    now = Date.UTC(2026, 10, 22, 12);
    let smsru;
    ({ fake, fp, ctx, smsru, close } = await installedPortal({ clock }));
    const id = await postSms(ctx, fp, { to: '+79995550001', text: 'before the uninstall' });
    await ctx.deps.worker.runOnce();
    expect((await messageRow(ctx, id)).state).toBe('sent');
    expect((await uninstall()).status).toBe(200);

    const asked = smsru.stats.statusRequests;
    await ctx.deps.statusesJob.runOnce();
    hours(73);
    await ctx.deps.statusesJob.runOnce();
    expect(smsru.stats.statusRequests).toBe(asked);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'undelivered', failure_reason: 'expired' });
  });

  it('an inactive portal (its tokens refused) is still asked about its messages', async () => {
    now = Date.UTC(2026, 10, 22, 12);
    let smsru, portal;
    ({ fake, fp, ctx, smsru, portal, close } = await installedPortal({ clock }));
    const id = await postSms(ctx, fp, { to: '+79995550002', text: 'before the tokens went' });
    await ctx.deps.worker.runOnce();
    await ctx.deps.portals.markInactive(portal.id, 'invalid_grant: Invalid grant', now);
    const asked = smsru.stats.statusRequests;
    await ctx.deps.statusesJob.runOnce();
    expect(smsru.stats.statusRequests).toBeGreaterThan(asked);
  });

  describe('an SMSC.ru portal', () => {
    let smsc: FakeSmscRu;
    afterEach(() => smsc.close());

    it('a lost answer is no longer looked up, and still ends failed "outcome unknown" after UNKNOWN_OUTCOME_WINDOW', async () => {
      now = Date.UTC(2026, 10, 22, 12);
      smsc = await startFakeSmscRu({ clock, accounts: { shop: { password: 's3cret', balance: 500 } } });
      ({ fake, fp, ctx, close } = await installedPortal({
        clock, random: () => 0.5, install: { provider: 'smscru', smscru_login: 'shop', smscru_password: 's3cret', sender: 'MyShop' },
        env: { SMSCRU_API_URL: smsc.url, GATEWAY_TIMEOUT_MS: '1000' },
      }));
      smsc.nextSends('storeThenDrop');
      const id = await postSms(ctx, fp, { to: '+79995550003', text: 'answer lost, then uninstalled' });
      await ctx.deps.worker.runOnce();
      expect((await messageRow(ctx, id)).unknown_since).not.toBeNull();
      expect((await uninstall()).status).toBe(200);

      now += 60_000;
      await ctx.deps.statusesJob.runOnce();
      now += 15 * 60_000;
      await ctx.deps.statusesJob.runOnce();
      expect(smsc.stats.statusRequests).toBe(0);
      expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'outcome unknown: no delivery report from the gateway' });
    });
  });
});
