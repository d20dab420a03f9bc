import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../src/platform/logger.js';
import { openInstallPage } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { postHandler } from './helpers/sms.js';

let t: InstalledPortal | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

it('logs carry stable event names but never tokens, API keys or full phone numbers', async () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(s) });
  t = await installedPortal({ log, install: { provider: 'smsru', api_key: 'SECRET-API-KEY-42', sender: 'MyShop' } });
  const { fake, fp, ctx, portal } = t;
  await openInstallPage(ctx, fake, fp, { userId: 2 }); // a second user's tokens
  const handler = fp.senders.get('smsgw_myshop')!.HANDLER;
  const key = new URL(handler).searchParams.get('key')!;
  await postHandler(ctx, { portal: fp, id: 'x1', to: '+7 999 123-45-67', text: 'Your code is 1234' }, `/handler?key=${key}`);
  await postHandler(ctx, { id: 'x2', to: '+7 999 7654321 bad', text: 'x', auth: false }, `/handler?key=${key}`);
  fake.expireAccessTokens(fp);
  await ctx.deps.rest.call(portal.id, 'user.admin');

  const all = lines.join('');
  const events = lines.map((l) => JSON.parse(l).msg);
  expect(events).toEqual(expect.arrayContaining(['portal.install.verified', 'provider.registered', 'message.queued', 'message.rejected', 'b24.token.refreshed']));
  const tokens = await ctx.deps.portals.tokens(portal.id);
  for (const secret of ['SECRET-API-KEY-42', fp.applicationToken, key, tokens!.accessToken, tokens!.refreshToken, '79991234567', '9991234567', 'Your code is']) {
    expect(all).not.toContain(secret);
  }
});
