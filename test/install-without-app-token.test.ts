import { afterEach, beforeEach, expect, it } from 'vitest';
import request from 'supertest';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { formState, openInstallPage, submitInstallForm } from './helpers/install.js';
import { postHandler } from './helpers/sms.js';
import type { FakePortal } from './fakes/bitrix24.js';

/**
 * Bitrix24's own frame form (core rest app.layout) posts AUTH_ID, AUTH_EXPIRES, REFRESH_ID, member_id, status and
 * PLACEMENT: no APPLICATION_TOKEN, which the reference lists; ONAPPINSTALL, which carries it, may come late or never.
 * A portal installed so still takes its SMS: the handler URL's own key proves that Bitrix24 called, and the auth
 * block's token is kept from the first such call on.
 */
let t: InstalledPortal;
let fp: FakePortal;
let handlerPath: string;
beforeEach(async () => {
  t = await installedPortal(); // another portal, installed as usual, beside the one under test
  fp = await t.fake.addPortal();
  const page = await openInstallPage(t.ctx, t.fake, fp, { applicationToken: null });
  expect(page.status).toBe(200);
  expect((await submitInstallForm(t.ctx, formState(page.text), { provider: 'smsru', api_key: 'smsru-key-2', sender: 'Shop2' })).status).toBe(200);
  fp.installed = true;
  const handler = new URL([...fp.senders.values()][0]!.HANDLER);
  handlerPath = `${handler.pathname}${handler.search}`;
});
afterEach(() => t.close());

const sms = (id: string, o: { token?: string; path?: string } = {}) =>
  postHandler(t.ctx, { portal: fp, id, text: 'hi', auth: { application_token: o.token ?? fp.applicationToken } }, o.path ?? handlerPath);

it("takes the first SMS's application_token when the handler key proves the call, then holds every call to it", async () => {
  expect((await sms('f'.repeat(31) + '1', { path: '/handler' })).status).toBe(401); // no key: nothing proves it yet
  expect((await sms('f'.repeat(31) + '2')).body).toEqual({ status: 'queued' });
  expect((await sms('f'.repeat(31) + '3', { path: '/handler' })).body).toEqual({ status: 'queued' }); // the token alone, now
  expect((await sms('f'.repeat(31) + '4', { token: 'EVIL' })).status).toBe(401); // the key does not replace a kept token
  expect((await sms('f'.repeat(31) + '5', { token: 'EVIL', path: '/handler' })).status).toBe(401);
});

it('a token kept from handler calls proves no uninstall: whoever holds the key cannot plant one and erase the portal', async () => {
  expect((await sms('d'.repeat(31) + '1', { token: 'PLANTED' })).body).toEqual({ status: 'queued' }); // the key's holder calls first
  const uninstall = await request(t.ctx.app).post('/events').type('form').send({
    event: 'ONAPPUNINSTALL', 'data[CLEAN]': '1', 'auth[member_id]': fp.memberId, 'auth[domain]': fp.domain, 'auth[application_token]': 'PLANTED',
  });
  expect(uninstall.status).toBe(401);
  const portal = (await t.ctx.deps.portals.findByMemberId(fp.memberId))!;
  expect(portal.status).not.toBe('uninstalled');
  expect(await t.ctx.deps.settings.get(portal.id)).toBeDefined(); // nothing erased
});

it("never takes a token with another portal's key, nor with a key of its own for another member_id", async () => {
  const other = new URL([...t.fp.senders.values()][0]!.HANDLER);
  expect((await sms('e'.repeat(31) + '1', { path: `${other.pathname}${other.search}` })).status).toBe(401);
  expect(await t.ctx.deps.portals.hasApplicationToken((await t.ctx.deps.portals.findByMemberId(fp.memberId))!.id)).toBe(false);
  // The installed portal's own token is untouched by a call naming it with this portal's key.
  const mine = await postHandler(t.ctx, { portal: t.fp, id: 'e'.repeat(31) + '2', text: 'hi', auth: { application_token: 'EVIL' } }, handlerPath);
  expect(mine.status).toBe(401);
  expect(await t.ctx.deps.portals.matchesApplicationToken(t.portal.id, t.fp.applicationToken)).toBe(true);
});

it('the install binds ONAPPINSTALL, whose event (the installer\'s tokens, verified) gives the token that proves the uninstall', async () => {
  const eventsUrl = `${t.ctx.config.PUBLIC_URL}/events`;
  expect(fp.events.filter((e) => e.handler === eventsUrl).map((e) => e.event).sort()).toEqual(['ONAPPINSTALL', 'ONAPPUNINSTALL', 'ONAPPUPDATE']);
  expect((await sms('c'.repeat(31) + '1', { token: 'PLANTED' })).body).toEqual({ status: 'queued' }); // a token kept from a call first
  // What Bitrix24's queue posts after installFinish, as the docs show it (events/safe-event-handlers.md).
  const tokens = t.fake.issueTokens(fp, 1);
  const install = await request(t.ctx.app).post('/events').type('form').send({
    event: 'ONAPPINSTALL', event_handler_id: '17', ts: String(Math.floor(Date.now() / 1000)), 'data[VERSION]': '1', 'data[LANGUAGE_ID]': 'en',
    'auth[access_token]': tokens.accessToken, 'auth[refresh_token]': tokens.refreshToken, 'auth[expires_in]': '3600', 'auth[scope]': 'messageservice',
    'auth[domain]': fp.domain, 'auth[server_endpoint]': `${t.fake.oauthUrl}/rest/`, 'auth[status]': 'L', 'auth[client_endpoint]': fp.endpoint,
    'auth[member_id]': fp.memberId, 'auth[user_id]': '1', 'auth[application_token]': fp.applicationToken,
  });
  expect(install.status).toBe(200);
  const portal = (await t.ctx.deps.portals.findByMemberId(fp.memberId))!;
  expect(await t.ctx.deps.portals.matchesApplicationToken(portal.id, fp.applicationToken)).toBe(true);
  expect((await sms('c'.repeat(31) + '2')).body).toEqual({ status: 'queued' }); // Bitrix24's own token, from now on
  t.fake.uninstallApp(fp);
  const uninstall = await request(t.ctx.app).post('/events').type('form').send({
    event: 'ONAPPUNINSTALL', 'data[CLEAN]': '0', 'auth[member_id]': fp.memberId, 'auth[domain]': fp.domain, 'auth[application_token]': fp.applicationToken,
  });
  expect(uninstall.status).toBe(200);
  expect((await t.ctx.deps.portals.findByMemberId(fp.memberId))!.status).toBe('uninstalled');
});
