import { afterEach, beforeEach, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import type { TestContext } from './helpers/app.js';
import { openAppPage } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';
import { errorFromBody, PLAN_WITHOUT_REST } from '../src/bitrix/errors.js';

/**
 * A portal whose plan lost REST (a lapsed commercial plan): Bitrix24 answers every call 401 ACCESS_DENIED "REST is
 * available only on commercial plans." (core rest/lib/oauth/auth.php; b24restdocs system-errors.md), the code it
 * also gives a user who is no administrator. Not to be taken for one.
 */
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let smsru: FakeSmsRu;
let portal: Portal;
let close: () => Promise<void>;
let now: number;
beforeEach(async () => {
  now = Date.UTC(2026, 11, 2, 12);
  ({ fake, fp, ctx, smsru, portal, close } = await installedPortal({ clock: () => now, random: () => 0.5 }));
});
afterEach(() => close());

it('is told apart from a user who is no administrator by its description', () => {
  expect(errorFromBody({ error: 'ACCESS_DENIED', error_description: 'REST is available only on commercial plans.' }, 401)).toMatchObject({ code: PLAN_WITHOUT_REST, kind: 'terminal' });
  expect(errorFromBody({ error: 'ACCESS_DENIED', error_description: 'Access denied!' }, 403)).toMatchObject({ code: 'ACCESS_DENIED', kind: 'permanent' });
});

it('ends the portal\'s calls with the reason (no administrator is waited for), the app page says why, and an administrator\'s visit after the plan is paid sends the statuses', async () => {
  const id = await postSms(ctx, fp);
  await ctx.deps.worker.runOnce();
  smsru.settle();
  await ctx.deps.statusesJob.runOnce();
  expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });

  fp.restUnavailable = true;
  await ctx.deps.reporter.runOnce({ flush: true });
  const stopped = (await ctx.deps.portals.findById(portal.id))!;
  expect(stopped).toMatchObject({ status: 'inactive', reportsWaitingSince: null });
  expect(stopped.inactiveReason).toContain(PLAN_WITHOUT_REST);
  expect(fp.shown.get(id)).not.toBe('delivered');
  const page = await openAppPage(ctx, fake, fp);
  expect(page.text).toContain('REST is available only on commercial plans');
  expect(page.text).not.toContain('Only a Bitrix24 administrator');

  // Paid again: an administrator opens the app, the portal is active, and the waiting status goes out.
  fp.restUnavailable = false;
  expect((await openAppPage(ctx, fake, fp)).status).toBe(200);
  expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('active');
  for (let i = 0; i < 30 && fp.shown.get(id) !== 'delivered'; i++) {
    now += 60_000;
    await ctx.deps.reporter.runOnce({ flush: true });
  }
  expect(fp.shown.get(id)).toBe('delivered');
});
