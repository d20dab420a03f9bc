import { afterEach, describe, expect, it } from 'vitest';
import { installPortal } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';

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
});
