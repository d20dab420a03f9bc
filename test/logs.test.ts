import { afterEach, expect, it } from 'vitest';
import request from 'supertest';
import { createLogger } from '../src/platform/logger.js';
import { startFakeBitrix24, type FakeBitrix24 } from './fakes/bitrix24.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal, openInstallPage } from './helpers/install.js';

let fake: FakeBitrix24;
let ctx: TestContext;
afterEach(async () => {
  await ctx.close();
  await fake.close();
});

it('logs carry stable event names but never tokens, API keys or full phone numbers', async () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(s) });
  fake = await startFakeBitrix24();
  const fp = await fake.addPortal();
  ctx = await createTestContext({ fake, log });
  const portal = await installPortal(ctx, fake, fp, { provider: 'smsru', api_key: 'SECRET-API-KEY-42', sender: 'MyShop' });
  await openInstallPage(ctx, fake, fp, { userId: 2 }); // a second user's tokens
  const handler = fp.senders.get('smsgw_myshop')!.HANDLER;
  const key = new URL(handler).searchParams.get('key')!;
  await request(ctx.app).post(`/handler?key=${key}`).type('form').send({
    message_id: 'x1', message_to: '+7 999 123-45-67', message_body: 'Your code is 1234',
    'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken,
  });
  await request(ctx.app).post(`/handler?key=${key}`).type('form').send({ message_id: 'x2', message_to: '+7 999 7654321 bad', message_body: 'x' });
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
