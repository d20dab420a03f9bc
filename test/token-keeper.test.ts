import { afterEach, describe, expect, it } from 'vitest';
import { installPortal } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { buildDeps } from '../src/deps.js';
import { createLogger } from '../src/platform/logger.js';
import { TEST_SECRET_KEY } from './helpers/app.js';

let t: InstalledPortal | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('token keeper', () => {
  it('refreshes the pair of a portal idle for 20 days and leaves busy portals alone', async () => {
    let now = Date.now();
    t = await installedPortal({ clock: () => now });
    const { fake, ctx, portal: idlePortal } = t; // the idle portal, installed first
    const busy = await fake.addPortal();
    now += 15 * 86_400_000;
    const busyPortal = await installPortal(ctx, fake, busy);
    now += 6 * 86_400_000; // idle: 21 days without a call; busy: 6 days
    const before = fake.refreshCount;
    const oldTokens = await ctx.deps.portals.tokens(idlePortal.id);
    expect(await ctx.deps.tokenKeeper.runOnce()).toEqual({ refreshed: 1, failed: 0 });
    expect(fake.refreshCount - before).toBe(1);
    expect((await ctx.deps.portals.tokens(idlePortal.id))?.refreshToken).not.toBe(oldTokens?.refreshToken);
    expect((await ctx.deps.portals.tokens(busyPortal.id))).toBeDefined();
    // The new pair works, and the portal is not idle any more.
    expect(await ctx.deps.rest.call(idlePortal.id, 'user.admin')).toBe(true);
    expect(await ctx.deps.tokenKeeper.runOnce()).toEqual({ refreshed: 0, failed: 0 });
  });

  it("two processes running the keeper at once rotate an idle portal's pair once, and it stays active", async () => {
    let now = Date.now();
    t = await installedPortal({ clock: () => now, bitrix24: { refreshDelayMs: 150 } });
    const { fake, ctx, portal } = t;
    const other = buildDeps({ config: ctx.deps.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now });
    now += 21 * 86_400_000;
    const before = fake.refreshCount;
    const results = await Promise.all([ctx.deps.tokenKeeper.runOnce(), other.tokenKeeper.runOnce()]);
    expect(results).toEqual([{ refreshed: 1, failed: 0 }, { refreshed: 1, failed: 0 }]); // fresh either way
    expect(fake.refreshCount - before).toBe(1);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
  });
});
