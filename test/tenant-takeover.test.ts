import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { startRecorder } from './fakes/recorder.js';
import type { TestContext } from './helpers/app.js';
import { installPortal, openAppPage, openInstallPage, stateFor, statusState, submitInstallForm } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { requireKannel, startKannel, type Kannel } from './helpers/kannel.js';
import { postHandler } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';
import { dlrToken } from '../src/delivery/dlr-url.js';

// Issue 7 §1-3, 13, 14: everything an ordinary user of a portal (who gets a genuine AUTH_ID by opening the app)
// tried against the portal's settings, tokens and lifecycle, reproduced through the public interface.
requireKannel();

let kannel: Kannel;
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let attacker: Awaited<ReturnType<typeof startRecorder>>;
let now: number;

beforeAll(async () => {
  kannel = await startKannel({ username: 'shop', password: 'kannel-secret-pw' });
});
afterAll(async () => {
  await kannel?.stop();
});

const kannelFields = () => ({ provider: 'kannel', kannel_url: kannel.url, kannel_username: 'shop', kannel_password: 'kannel-secret-pw', sender: 'MyShop' });

beforeEach(async () => {
  now = Date.now();
  attacker = await startRecorder();
  // The portal's own Kannel sits on this machine, as in a single-company deployment.
  ({ fake, fp, ctx, portal, close } = await installedPortal({ clock: () => now, env: { ALLOW_PRIVATE_GATEWAYS: '1' }, install: kannelFields() }));
});
afterEach(async () => {
  await close();
  await attacker.close();
});

const post = (path: string, fields: Record<string, string>) => request(ctx.app).post(path).type('form').send(fields);
const portalRow = () => ctx.db('portals').where({ id: portal.id }).first();
const savedGateway = async () => (await ctx.deps.settings.get(portal.id))?.credentials;
/** An SMS whose auth block carries `applicationToken`, to /handler without the key: the token alone decides. */
const sms = (applicationToken: string, id: string) => postHandler(ctx, { portal: fp, id, text: 'hi', auth: { application_token: applicationToken } });

describe('an ordinary portal user cannot take the portal over', () => {
  it('a non-admin\'s page token cannot change the gateway (the reported attack): refused, nothing sent to the new URL', async () => {
    const page = await openAppPage(ctx, fake, fp, { userId: 2 });
    expect(page.status).toBe(200);
    const token = stateFor(page.text, '/app/log');
    expect(token).not.toBe('');
    const res = await submitInstallForm(ctx, token, { provider: 'kannel', kannel_url: attacker.url, kannel_username: 'shop', kannel_password: '', sender: 'MyShop' });
    expect(res.status).toBe(403);
    expect(res.text).not.toContain('The SMS gateway is connected');
    expect(await savedGateway()).toEqual({ url: kannel.url, username: 'shop', password: 'kannel-secret-pw' });
    expect(attacker.requests).toHaveLength(0);
  });

  it('a non-admin\'s token is refused by every route that changes something', async () => {
    const page = await openAppPage(ctx, fake, fp, { userId: 2 });
    const token = stateFor(page.text, '/app/log');
    // The page gives a non-admin no other token at all.
    expect([...page.text.matchAll(/name="state" value="([^"]+)"/g)].every((m) => m[1] === token)).toBe(true);
    expect(statusState(page.text)).toBe('');
    const attempts: Array<[string, Record<string, string>]> = [
      ['/install/save', { provider: 'smsru', api_key: 'x', sender: 'Evil' }],
      ['/app/gateway', { provider: 'kannel', kannel_url: attacker.url, kannel_username: 'shop', kannel_password: '' }],
      ['/app/senders/add', { sender_name: 'Evil' }],
      ['/app/senders/remove', { code: 'smsgw_myshop' }],
      ['/app/test-sms', { phone: '+79991234567', text: 'x' }],
      ['/app/messages/1', {}],
    ];
    for (const [path, fields] of attempts) {
      const res = await post(path, { state: token, ...fields });
      expect(res.status, path).toBe(403);
    }
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(await savedGateway()).toMatchObject({ url: kannel.url });
    expect(await ctx.db('messages').where({ is_test: true })).toHaveLength(0);
    expect(attacker.requests).toHaveLength(0);
  });

  it('an administrator\'s token for one action is refused for every other, and every token expires within the hour', async () => {
    const page = (await openAppPage(ctx, fake, fp)).text;
    const gatewayToken = stateFor(page, '/app/gateway');
    expect((await post('/app/senders/add', { state: gatewayToken, sender_name: 'Promo' })).status).toBe(403);
    expect((await post('/install/save', { state: gatewayToken, provider: 'smsru', api_key: 'x' })).status).toBe(403);
    expect((await post('/app/gateway', { state: stateFor(page, '/app/log'), provider: 'smsru', api_key: 'x' })).status).toBe(403);
    const install = stateFor((await openInstallPage(ctx, fake, fp)).text, '/install/save');
    expect((await post('/app/gateway', { state: install, provider: 'smsru', api_key: 'x' })).status).toBe(403);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);

    now += 31 * 60_000;
    const late = await post('/app/senders/add', { state: stateFor(page, '/app/senders/add'), sender_name: 'Promo' });
    expect(late.status).toBe(401);
    expect(late.text).toContain('This form has expired');
    // The page that says so is shown inside Bitrix24: its own portal may frame it.
    expect(late.headers['content-security-policy']).toContain(`frame-ancestors http://${fp.domain}`);
    expect((await post('/install/save', { state: install, provider: 'smsru', api_key: 'x' })).status).toBe(401);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
  });

  it('keeps tokens out of URLs: the log and its CSV are reached by POST, no link carries a token', async () => {
    const page = (await openAppPage(ctx, fake, fp)).text;
    expect(page).not.toMatch(/href="[^"]*state=/);
    expect(page).not.toMatch(/\?state=/);
    const token = stateFor(page, '/app/log');
    expect((await request(ctx.app).get('/app/log').query({ state: token })).status).toBe(404);
    expect((await request(ctx.app).get('/app/log.csv').query({ state: token })).status).toBe(404);
    expect((await post('/app/log.csv', { state: token })).status).toBe(200);
  });

  it('a non-admin opening the install page sees nothing and replaces nothing (their tokens, APPLICATION_TOKEN=EVIL)', async () => {
    const before = await portalRow();
    const res = await openInstallPage(ctx, fake, fp, { userId: 2, applicationToken: 'EVIL' });
    expect(res.status).toBe(403);
    expect(res.text).not.toContain(kannel.url);
    expect(res.text).not.toContain('name="state"');
    expect(await portalRow()).toEqual(before);
    expect((await sms('EVIL', 'forged1')).status).toBe(401);
    expect((await sms(fp.applicationToken, 'genuine1')).status).toBe(200);
  });

  it('an APPLICATION_TOKEN from a frame is taken only on a first install or after an uninstall', async () => {
    const genuine = fp.applicationToken;
    expect((await openInstallPage(ctx, fake, fp, { applicationToken: 'EVIL' })).status).toBe(200);
    expect((await sms('EVIL', 'a1')).status).toBe(401);
    expect((await sms(genuine, 'a2')).status).toBe(200);

    // A genuine uninstall, then a reinstall whose frame carries Bitrix24's new token.
    fake.uninstallApp(fp);
    const events = await post('/events', { event: 'ONAPPUNINSTALL', 'data[CLEAN]': '0', 'auth[member_id]': fp.memberId, 'auth[domain]': fp.domain, 'auth[application_token]': genuine });
    expect(events.status).toBe(200);
    fp.applicationToken = 'a'.repeat(32);
    fake.installApp(fp);
    expect((await openInstallPage(ctx, fake, fp)).status).toBe(200);
    expect((await sms(fp.applicationToken, 'a3')).status).toBe(200);
    expect((await sms(genuine, 'a4')).status).toBe(401);
  });
});

describe('lifecycle events cannot be forged with a portal user\'s token', () => {
  const event = (fields: Record<string, string>) => post('/events', { event_handler_id: '7', ts: String(Math.floor(Date.now() / 1000)), ...fields });
  const update = (tokens: { accessToken: string; refreshToken: string }, applicationToken: string) =>
    event({
      event: 'ONAPPUPDATE', 'data[VERSION]': '2', 'auth[access_token]': tokens.accessToken, 'auth[refresh_token]': tokens.refreshToken, 'auth[expires_in]': '3600',
      'auth[domain]': fp.domain, 'auth[member_id]': fp.memberId, 'auth[client_endpoint]': fp.endpoint, 'auth[application_token]': applicationToken,
    });

  it('refuses ONAPPUPDATE with a non-admin\'s genuine token, and the uninstall that would follow erases nothing', async () => {
    await sms(fp.applicationToken, 'kept1');
    const before = await portalRow();
    const nonAdmin = fake.issueTokens(fp, 2);
    const forged = await update({ accessToken: nonAdmin.accessToken, refreshToken: 'junk' }, 'EVIL');
    expect([401, 403]).toContain(forged.status);
    const withRealRefresh = await update(fake.issueTokens(fp, 2), 'EVIL');
    expect(withRealRefresh.status).toBe(403);
    expect(await portalRow()).toEqual(before);

    const uninstall = await event({ event: 'ONAPPUNINSTALL', 'data[CLEAN]': '1', 'auth[member_id]': fp.memberId, 'auth[domain]': fp.domain, 'auth[application_token]': 'EVIL' });
    expect(uninstall.status).toBe(401);
    expect(await savedGateway()).toMatchObject({ url: kannel.url });
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(await ctx.db('senders').where({ portal_id: portal.id })).toHaveLength(1);
    expect((await ctx.db('messages').where({ b24_message_id: 'kept1' }).first()).body).toBe('hi');
    expect((await sms(fp.applicationToken, 'kept2')).status).toBe(200);
  });

  it('stores an event\'s refresh token only after a refresh with it worked, yet takes an administrator\'s new application token', async () => {
    const stored = await ctx.deps.portals.tokens(portal.id);
    const admin = fake.issueTokens(fp, 1);
    fp.applicationToken = 'b'.repeat(32); // what Bitrix24 hands out on an update
    const res = await update({ accessToken: admin.accessToken, refreshToken: 'junk' }, fp.applicationToken);
    expect(res.status).toBe(200);
    expect(await ctx.deps.portals.tokens(portal.id)).toEqual(stored); // 'junk' was not stored
    expect((await sms(fp.applicationToken, 'r1')).status).toBe(200);
  });

  it('calls the portal only at its own /rest/ endpoint, whatever client_endpoint an event names', async () => {
    const before = await portalRow();
    const admin = fake.issueTokens(fp, 1);
    const res = await event({
      event: 'ONAPPUPDATE', 'auth[access_token]': admin.accessToken, 'auth[refresh_token]': admin.refreshToken, 'auth[domain]': fp.domain,
      'auth[member_id]': fp.memberId, 'auth[client_endpoint]': `${fp.endpoint.replace('/rest/', '/anything/')}`, 'auth[application_token]': 'EVIL',
    });
    expect(res.status).not.toBe(200);
    expect((await portalRow()).rest_endpoint).toBe(before.rest_endpoint);
    expect((await sms('EVIL', 'e1')).status).toBe(401);
  });
});

describe('uninstall with CLEAN=1', () => {
  it('erases reasons, origins and gateway texts too, and rotates the handler key', async () => {
    await sms(fp.applicationToken, 'c1');
    const bad = await postHandler(ctx, { portal: fp, id: 'c2', to: 'call 8-999-INVALID', text: 'x', bindings: [{ OWNER_TYPE_ID: '3', OWNER_ID: '42' }] });
    expect(bad.body.status).toBe('failed');
    await ctx.db('messages').where({ b24_message_id: 'c1' }).update({ gateway_status_text: 'rejected: +79991234567 is blocked' });
    const oldHandler = new URL(fp.senders.get('smsgw_myshop')!.HANDLER);
    fake.uninstallApp(fp, { clean: true });
    const res = await post('/events', { event: 'ONAPPUNINSTALL', 'data[CLEAN]': '1', 'auth[member_id]': fp.memberId, 'auth[domain]': fp.domain, 'auth[application_token]': fp.applicationToken });
    expect(res.status).toBe(200);
    // A delivery report that arrives afterwards brings nothing back (Kannel's reply text may quote the number).
    const c1 = await ctx.db('messages').where({ b24_message_id: 'c1' }).first();
    const dlr = await request(ctx.app).get(`/dlr/kannel/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}/${c1.id}`).query({ type: '2', reply: 'id:1 stat:UNDELIV to +79991234567' });
    expect(dlr.status).toBe(200);
    for (const m of await ctx.db('messages').where({ portal_id: portal.id })) {
      expect(m).toMatchObject({ body: null, phone: null, message_to: '', origin: null, failure_reason: null, gateway_status_text: null });
    }
    // Reinstalled: the old handler URL (key only, as for author-less messages) opens nothing; the new one works.
    fake.installApp(fp);
    await installPortal(ctx, fake, fp, kannelFields());
    const newHandler = new URL(fp.senders.get('smsgw_myshop')!.HANDLER);
    expect(newHandler.search).not.toBe(oldHandler.search);
    const authorless = (search: string, id: string) => postHandler(ctx, { id, text: 'hi', auth: false }, `/handler${search}`);
    expect((await authorless(oldHandler.search, 'k1')).status).toBe(401);
    expect((await authorless(newHandler.search, 'k2')).status).toBe(200);
  });
});

describe('the REST client and redirects', () => {
  it('does not follow a redirect to a host the OAuth server does not confirm: no token leaves, the endpoint stays', async () => {
    fp.failNext.push({ status: 302, body: {}, headers: { location: `${attacker.url}/rest/user.admin` } });
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'REDIRECT_REFUSED' });
    expect(attacker.requests).toHaveLength(0);
    expect((await ctx.deps.portals.findById(portal.id))?.restEndpoint).toBe(fp.endpoint);
  });
});
