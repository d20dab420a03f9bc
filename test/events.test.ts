import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { PUBLIC_URL, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postHandler } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';
import { createTokenRefresher } from '../src/bitrix/token-refresher.js';
import { createLogger } from '../src/platform/logger.js';
import { eventually } from './helpers/wait.js';
import { createFairGate } from '../src/platform/fair-gate.js';
import { AppError } from '../src/platform/errors.js';
import { createEventsService } from '../src/portals/events.service.js';
import { createTokenChecks, TOKEN_CHECK_LIMITS } from '../src/portals/verify.js';

let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, fp, ctx, portal, close } = await installedPortal());
});
afterEach(() => close());

/** An event as Bitrix24 posts it: form-urlencoded, event / data[...] / auth[...]. */
function postEvent(event: string, p: { portal?: FakePortal; data?: Record<string, string>; auth?: Record<string, string | undefined> }) {
  const target = p.portal ?? fp;
  const body: Record<string, string> = { event, event_handler_id: '17', ts: String(Math.floor(Date.now() / 1000)) };
  for (const [k, v] of Object.entries(p.data ?? {})) body[`data[${k}]`] = v;
  const auth = { domain: target.domain, member_id: target.memberId, application_token: target.applicationToken, ...p.auth };
  for (const [k, v] of Object.entries(auth)) if (v !== undefined) body[`auth[${k}]`] = v;
  return request(ctx.app).post('/events').type('form').send(body);
}

function tokenAuth(tokens: { accessToken: string; refreshToken: string }, target = fp) {
  return {
    access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: '3600', scope: 'messageservice',
    client_endpoint: target.endpoint, server_endpoint: `${fake.oauthUrl}/rest/`, status: 'L', user_id: '1',
  };
}

/** An SMS whose auth block carries `applicationToken`, to /handler without the key: the token alone decides. */
const sms = (applicationToken: string, id: string) => postHandler(ctx, { portal: fp, id, text: 'hi', auth: { application_token: applicationToken } });

describe('POST /events', () => {
  it('ONAPPUPDATE replaces the application_token and tokens, and registers the providers again', async () => {
    const oldAppToken = fp.applicationToken;
    // What Bitrix24 does on an app update: providers deleted, a new application_token.
    const tokens = fake.updateApp(fp);
    expect(fp.senders.size).toBe(0);
    const res = await postEvent('ONAPPUPDATE', { data: { VERSION: '2', PREVIOUS_VERSION: '1' }, auth: tokenAuth(tokens) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', registered: ['smsgw_myshop'] });
    expect(fp.senders.get('smsgw_myshop')?.HANDLER).toMatch(`${PUBLIC_URL}/handler?key=`);
    // The event's refresh token was proven by using it: the pair stored is the one that refresh returned.
    const stored = await ctx.deps.portals.tokens(portal.id);
    expect(stored?.refreshToken).not.toBe(tokens.refreshToken);
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect((await sms(fp.applicationToken, 'a1')).status).toBe(200);
    expect((await sms(oldAppToken, 'a2')).status).toBe(401);
  });

  it('ONAPPUPDATE that Bitrix24 could not link to a user (no tokens) registers the providers again at once with the stored tokens, and changes nothing else', async () => {
    const oldAppToken = fp.applicationToken;
    fake.updateApp(fp); // providers deleted, a new application_token
    expect(fp.senders.size).toBe(0);
    const res = await postEvent('ONAPPUPDATE', { data: { VERSION: '2', PREVIOUS_VERSION: '1' } }); // auth: domain, member_id, application_token
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', registered: ['smsgw_myshop'] });
    expect(fp.senders.get('smsgw_myshop')?.HANDLER).toMatch(`${PUBLIC_URL}/handler?key=`);
    // Its application_token is not proven by anything: not taken (the handler key in the provider's URL still
    // authenticates SMS, and a verified administrator's event or visit brings the new token).
    expect((await sms(oldAppToken, 'b1')).status).toBe(200);
    // Sent again (or forged) within a minute, it asks Bitrix24 nothing.
    fake.updateApp(fp);
    expect((await postEvent('ONAPPUPDATE', { data: { VERSION: '3' } })).body).toEqual({ status: 'ok', registered: [] });
    expect(fp.senders.size).toBe(0);
    // For a portal nobody installed, it is refused.
    const stranger = await fake.addPortal();
    expect((await postEvent('ONAPPUPDATE', { portal: stranger })).status).toBe(401);
  });

  it('ONAPPUPDATE that arrives after its access token expired is proven by a refresh', async () => {
    const tokens = fake.issueTokens(fp);
    fake.expireAccessTokens(fp);
    fp.applicationToken = randomBytes(16).toString('hex');
    const before = fake.refreshCount;
    const res = await postEvent('ONAPPUPDATE', { data: { VERSION: '2' }, auth: tokenAuth(tokens) });
    expect(res.status).toBe(200);
    expect(fake.refreshCount - before).toBe(1);
    // The event's pair died with the refresh; the rotated pair is what is stored and works.
    const stored = await ctx.deps.portals.tokens(portal.id);
    expect(stored?.refreshToken).not.toBe(tokens.refreshToken);
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect((await sms(fp.applicationToken, 'b1')).status).toBe(200);
  });

  it('a late ONAPPUPDATE whose refresh the OAuth checks\' gate refuses is answered 503, and the stored pair is neither used nor held', async () => {
    const stored = (await ctx.deps.portals.tokens(portal.id))!;
    fake.expireAccessTokens(fp);
    // The gate as deps build it, except that its second turn (the refresh and its check) is refused, as a full
    // waiting room would: the first turn is the check of the event's access token.
    const real = createFairGate({ ...TOKEN_CHECK_LIMITS });
    let turns = 0;
    const gate = { ...real, run: <T>(key: string, work: () => Promise<T>) => (++turns === 2 ? Promise.reject(new AppError('checks_busy', 503, 'busy', true, { retryAfterS: 5 })) : real.run(key, work)) };
    const events = createEventsService({ ...ctx.deps, tokenChecks: createTokenChecks({ oauth: ctx.deps.oauth, gate }) });
    const before = fake.refreshesReceived;
    await expect(events.onInstallOrUpdate('ONAPPUPDATE', {
      accessToken: stored.accessToken, refreshToken: stored.refreshToken, memberId: fp.memberId, domain: fp.domain, applicationToken: 'new-app-token', from: '203.0.113.9',
    })).rejects.toMatchObject({ status: 503, code: 'checks_busy' });
    expect(turns).toBe(2);
    expect(fake.refreshesReceived).toBe(before);
    expect(await ctx.deps.portals.tokens(portal.id)).toEqual(stored);
    // The refresh lease was given back: the next call refreshes with the stored pair at once.
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect(fake.refreshesReceived).toBe(before + 1);
    expect((await sms('new-app-token', 'g1')).status).toBe(401);
  });

  it('an ONAPPUPDATE already proven whose refresh the gate refuses is still taken: the new application_token with the stored pair', async () => {
    const stored = (await ctx.deps.portals.tokens(portal.id))!;
    const tokens = fake.issueTokens(fp);
    fp.applicationToken = randomBytes(16).toString('hex');
    const real = createFairGate({ ...TOKEN_CHECK_LIMITS });
    let turns = 0;
    const gate = { ...real, run: <T>(key: string, work: () => Promise<T>) => (++turns === 2 ? Promise.reject(new AppError('checks_busy', 503, 'busy', true, { retryAfterS: 5 })) : real.run(key, work)) };
    const events = createEventsService({ ...ctx.deps, tokenChecks: createTokenChecks({ oauth: ctx.deps.oauth, gate }) });
    const before = fake.refreshesReceived;
    await events.onInstallOrUpdate('ONAPPINSTALL', {
      accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, memberId: fp.memberId, domain: fp.domain, clientEndpoint: fp.endpoint,
      applicationToken: fp.applicationToken, from: '203.0.113.9',
    });
    expect(turns).toBe(2);
    expect(fake.refreshesReceived).toBe(before);
    expect(await ctx.deps.portals.tokens(portal.id)).toEqual(stored);
    expect((await sms(fp.applicationToken, 'h1')).status).toBe(200);
  });

  it('a late event with the stored refresh token keeps the refreshed pair even when the event is then refused (its sender is no administrator any more)', async () => {
    const stored = (await ctx.deps.portals.tokens(portal.id))!;
    fake.expireAccessTokens(fp);
    fp.users[0]!.admin = false;
    const res = await postEvent('ONAPPUPDATE', { auth: { ...tokenAuth(stored), application_token: 'from-a-former-admin' } });
    expect(res.status).toBe(403);
    // The refresh used the stored refresh token up: what it returned is stored, so the portal's calls go on.
    const now = (await ctx.deps.portals.tokens(portal.id))!;
    expect(now.refreshToken).not.toBe(stored.refreshToken);
    expect(await ctx.deps.rest.call(portal.id, 'profile')).toMatchObject({ ID: '1' });
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect((await sms('from-a-former-admin', 'h2')).status).toBe(401);
  });

  it('refuses a forged ONAPPUPDATE (tokens of another portal) and changes nothing', async () => {
    const other = await fake.addPortal();
    const before = await ctx.db('portals').where({ id: portal.id }).first();
    const res = await postEvent('ONAPPUPDATE', { auth: { ...tokenAuth(fake.issueTokens(other)), application_token: 'attacker-token' } });
    expect(res.status).toBe(401);
    expect(await ctx.db('portals').where({ id: portal.id }).first()).toEqual(before);
    expect((await sms('attacker-token', 'c1')).status).toBe(401);
    expect((await sms(fp.applicationToken, 'c2')).status).toBe(200);
  });

  it('an expired ONAPPUPDATE that names a portal with another portal\'s refresh token holds none of that portal\'s own refreshes up', async () => {
    const other = await fake.addPortal();
    const theirs = fake.issueTokens(other);
    fake.expireAccessTokens(other);
    fake.refreshDelayMs = 1500; // the attacker's refresh is in flight that long
    const before = fake.refreshesReceived;
    const forged = postEvent('ONAPPUPDATE', { auth: tokenAuth(theirs) }).then((r) => r); // names fp's member_id
    await eventually(() => fake.refreshesReceived > before, 'the forged event\'s refresh to reach the OAuth server', 10_000);
    // Meanwhile the portal's own refresh (here one that waits at most 200 ms for the lease) goes through.
    const refresher = createTokenRefresher({ portals: ctx.deps.portals, oauth: ctx.deps.oauth, clock: Date.now, log: createLogger('silent'), leaseMs: 200, waitStepMs: 20 });
    const stale = (await ctx.deps.portals.tokens(portal.id))!.accessToken;
    await refresher.refresh(portal.id);
    expect((await ctx.deps.portals.tokens(portal.id))!.accessToken).not.toBe(stale);
    expect((await forged).status).toBe(401);
  });

  it('refuses an ONAPPUPDATE with made-up tokens', async () => {
    const res = await postEvent('ONAPPUPDATE', { auth: tokenAuth({ accessToken: 'nope', refreshToken: 'nope' }) });
    expect(res.status).toBe(401);
  });

  it('ONAPPINSTALL stores a portal that the install page has not seen yet', async () => {
    const fresh = await fake.addPortal();
    const res = await postEvent('ONAPPINSTALL', { portal: fresh, data: { VERSION: '1', LANGUAGE_ID: 'ru' }, auth: tokenAuth(fake.issueTokens(fresh), fresh) });
    expect(res.status).toBe(200);
    const stored = await ctx.deps.portals.findByMemberId(fresh.memberId);
    expect(stored).toMatchObject({ status: 'active', domain: fresh.domain, restEndpoint: fresh.endpoint });
    expect(await ctx.deps.portals.matchesApplicationToken(stored!.id, fresh.applicationToken)).toBe(true);
  });

  it('ONAPPUNINSTALL with CLEAN=1 removes settings, secrets and message texts, and stops intake', async () => {
    expect((await sms(fp.applicationToken, 'd1')).status).toBe(200);
    fake.uninstallApp(fp, { clean: true }); // the app's tokens die with it: Bitrix24 answers app.info with no "installed"
    const res = await postEvent('ONAPPUNINSTALL', { data: { CLEAN: '1', LANGUAGE_ID: 'ru' } });
    expect(res.status).toBe(200);
    const row = await ctx.db('portals').where({ id: portal.id }).first();
    expect(row).toMatchObject({ status: 'uninstalled', access_token_enc: null, refresh_token_enc: null, application_token_enc: null });
    expect(await ctx.db('settings').where({ portal_id: portal.id })).toHaveLength(0);
    const [m] = await ctx.db('messages').where({ portal_id: portal.id });
    expect(m).toMatchObject({ body: null, phone: null, message_to: '' });
    expect((await sms(fp.applicationToken, 'd2')).status).toBe(401);
  });

  it('ONAPPUNINSTALL without CLEAN keeps the settings but no credential of the portal\'s, and a later install starts clean and works', async () => {
    // An author's token (from an SMS's auth block) and an administrator's pair (from opening the app's page) are kept.
    expect((await sms(fp.applicationToken, 'e0')).status).toBe(200);
    await ctx.deps.identities.rememberAdmin(portal.id, 1, { accessToken: 'admin-access', refreshToken: 'admin-refresh', expiresAt: Date.now() + 3600_000 }, Date.now());
    expect(await ctx.db('author_tokens').where({ portal_id: portal.id })).toHaveLength(1);
    const keyBefore = (await ctx.db('portals').where({ id: portal.id }).first()).handler_key_hash;

    fake.uninstallApp(fp);
    const res = await postEvent('ONAPPUNINSTALL', { data: { CLEAN: '0' } });
    expect(res.status).toBe(200);
    const row = await ctx.db('portals').where({ id: portal.id }).first();
    expect(row).toMatchObject({
      status: 'uninstalled', access_token_enc: null, refresh_token_enc: null, application_token_enc: null,
      admin_access_token_enc: null, admin_refresh_token_enc: null,
    });
    expect(row.handler_key_hash).not.toBe(keyBefore);
    expect(await ctx.db('author_tokens').where({ portal_id: portal.id })).toHaveLength(0);
    expect(await ctx.db('settings').where({ portal_id: portal.id })).toHaveLength(1);
    expect((await sms(fp.applicationToken, 'e1')).status).toBe(401);

    fake.installApp(fp);
    await installPortal(ctx, fake, fp);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect((await sms(fp.applicationToken, 'e2')).status).toBe(200);
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
  });

  it('refuses a forged ONAPPUNINSTALL (wrong application_token) and changes nothing', async () => {
    const before = await ctx.db('portals').where({ id: portal.id }).first();
    const res = await postEvent('ONAPPUNINSTALL', { data: { CLEAN: '1' }, auth: { application_token: 'f'.repeat(32) } });
    expect(res.status).toBe(401);
    expect(await ctx.db('portals').where({ id: portal.id }).first()).toEqual(before);
    expect(await ctx.db('settings').where({ portal_id: portal.id })).toHaveLength(1);
    expect((await sms(fp.applicationToken, 'f1')).status).toBe(200);
  });

  it('a reinstall after uninstall makes the portal active again', async () => {
    fake.uninstallApp(fp, { clean: true });
    await postEvent('ONAPPUNINSTALL', { data: { CLEAN: '1' } });
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('uninstalled');
    fake.installApp(fp);
    await installPortal(ctx, fake, fp);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect((await sms(fp.applicationToken, 'g1')).status).toBe(200);
  });

  it('answers 400 to an event it does not handle', async () => {
    const res = await postEvent('ONCRMLEADADD', {});
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('ONCRMLEADADD');
  });
});
