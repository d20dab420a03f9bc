import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shownInactiveReason } from '../src/console/shown.js';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { createTestContext, TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { buildDeps } from '../src/deps.js';
import { createApp } from '../src/web/app.js';
import { createLogger } from '../src/platform/logger.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postHandler, postSms } from './helpers/sms.js';

const PASSWORD = 'operator-secret-1';
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, fp, ctx, close } = await installedPortal({ env: { ADMIN_PASSWORD: PASSWORD } }));
});
afterEach(() => close());

async function login() {
  const res = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
  expect(res.status).toBe(303);
  const cookie = String(res.headers['set-cookie']);
  const page = await request(ctx.app).get('/admin').set('cookie', cookie);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  return { cookie, csrf, page };
}

describe('operator console', () => {
  it('is off (404) without ADMIN_PASSWORD', async () => {
    const off = await createTestContext({ fake });
    try {
      expect((await request(off.app).get('/admin')).status).toBe(404);
      expect((await request(off.app).post('/admin/login').type('form').send({ password: 'x' })).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('asks for the password, refuses a wrong one, and throttles repeated failures', async () => {
    const page = await request(ctx.app).get('/admin');
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="password"');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    for (let i = 0; i < 5; i++) expect((await request(ctx.app).post('/admin/login').type('form').send({ password: 'nope' })).status).toBe(401);
    const blocked = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('signs in with an HttpOnly, SameSite=Strict session cookie and shows portals, queue health and the chart', async () => {
    await postSms(ctx, fp, { to: '+79991234567' });
    await postSms(ctx, fp, { to: 'garbage' });
    const res = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Secure/); // PUBLIC_URL is https in tests
    const { page } = await login();
    expect(page.text).toContain(fp.domain);
    expect(page.text).toContain(fp.memberId);
    expect(page.text).toMatch(/<td id="h-queued">1<\/td>/);
    expect(page.text).toContain('invalid phone number');
    expect(page.text).toContain('<svg');
    expect(page.text).toContain('id="hourly-chart"');
    expect(page.text).toMatch(/<rect [^>]*fill="#ff5752"><title>[^<]*failed: 1<\/title>/);
  });

  it('refuses actions without a session (401) or without the CSRF token (403)', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    expect((await request(ctx.app).post(`/admin/portals/${portal.id}/disable`).type('form').send({})).status).toBe(401);
    const { cookie } = await login();
    expect((await request(ctx.app).post(`/admin/portals/${portal.id}/disable`).set('cookie', cookie).type('form').send({ csrf: 'forged' })).status).toBe(403);
    expect((await ctx.deps.portals.findById(portal.id))?.disabledAt).toBeNull();
  });

  it('signing out ends the session in every web process: a copy of its cookie no longer opens the console', async () => {
    const { cookie, csrf } = await login();
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const other = createApp(buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    expect((await request(other).get('/admin').set('cookie', cookie)).text).toContain('Queue health');
    expect((await request(ctx.app).post('/admin/logout').type('form').set('cookie', cookie).send({ csrf })).status).toBe(303);
    for (const app of [ctx.app, other]) {
      const page = await request(app).get('/admin').set('cookie', cookie);
      expect(page.text).toContain('name="password"');
      expect(page.text).not.toContain('Queue health');
      const act = await request(app).post(`/admin/portals/${portal.id}/disable`).type('form').set('cookie', cookie).send({ csrf });
      expect(act.status).toBe(401);
    }
    expect((await ctx.deps.portals.findById(portal.id))?.disabledAt).toBeNull();
    // Signing in again opens a new session.
    expect((await login()).page.text).toContain('Queue health');
  });

  it('a new ADMIN_PASSWORD ends the sessions opened with the old one', async () => {
    const { cookie, csrf } = await login();
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const changed = createApp(buildDeps({ config: { ...ctx.config, ADMIN_PASSWORD: 'operator-secret-2' }, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    const page = await request(changed).get('/admin').set('cookie', cookie);
    expect(page.text).toContain('name="password"');
    expect(page.text).not.toContain('Queue health');
    expect((await request(changed).post(`/admin/portals/${portal.id}/disable`).type('form').set('cookie', cookie).send({ csrf })).status).toBe(401);
    expect((await ctx.deps.portals.findById(portal.id))?.disabledAt).toBeNull();
    expect((await request(ctx.app).get('/admin').set('cookie', cookie)).text).toContain('Queue health');
  });

  it("shows only what its own actions said: a link's own words (?flash=…) are not shown on the console's page", async () => {
    const { cookie } = await login();
    for (const flash of ['Session expired: sign in again at https://evil.example', 'x.y', '']) {
      const page = await request(ctx.app).get('/admin').query({ flash }).set('cookie', cookie);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('role="status"');
      expect(page.text).not.toContain('evil.example');
    }
  });

  it("shows a portal's error codes, never words of its own, in the console's trusted flash and its provider-check column", async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const { cookie, csrf } = await login();
    const flashOf = async (what: string) => {
      const act = await request(ctx.app).post(`/admin/portals/${portal.id}/${what}`).set('cookie', cookie).type('form').send({ csrf });
      expect(act.status).toBe(303);
      const page = await request(ctx.app).get(String(act.headers.location)).set('cookie', cookie);
      return /<div class="ok" role="status">([^<]*)</.exec(page.text)?.[1];
    };
    // The tenant's server (any public host can be a "portal") answers with an error code of its choosing.
    const evil = 'Your console session expired. Sign in again at https://evil.example/admin';
    fp.failNext.push({ status: 400, body: { error: evil, error_description: 'x' } });
    expect(await flashOf('reregister')).toBe(`${portal.domain}: registration failed (error)`);
    fp.failNext.push({ status: 400, body: { error: evil, error_description: 'x' } });
    expect(await flashOf('rotate-key')).toMatch(new RegExp(`^${portal.domain}: new handler key, but Bitrix24 could not be told \\(error\\)`));
    // Bitrix24's own codes are shown as they are.
    fp.failNext.push({ status: 400, body: { error: 'ERROR_ARGUMENT', error_description: 'Argument "CODE" is invalid' } });
    expect(await flashOf('reregister')).toBe(`${portal.domain}: registration failed (ERROR_ARGUMENT)`);

    const check = { checkedAt: Date.now(), outcome: 'error' as const, providersRepaired: 0, eventsRepaired: 0 };
    await ctx.deps.providerChecks.record(portal.id, { ...check, error: evil });
    const page = (await request(ctx.app).get('/admin').set('cookie', cookie)).text;
    expect(page).not.toContain('evil.example');
    expect(page).toMatch(/<td class="provider-check"><span class="st st-failed">error error<\/span>/);
    await ctx.deps.providerChecks.record(portal.id, { ...check, error: 'invalid_grant' });
    expect((await request(ctx.app).get('/admin').set('cookie', cookie)).text).toMatch(/<td class="provider-check"><span class="st st-failed">error invalid_grant<\/span>/);
  });

  it("shows why a portal is inactive by its code and in its own words, never the words of the portal's server", async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    // The tenant's server (an on-premise "portal" is any public host) answers a terminal code with words of its choosing.
    const evil = 'Your console session expired. Sign in again at https://evil.example/admin';
    fp.failNext.push({ status: 402, body: { error: 'PAYMENT_REQUIRED', error_description: evil } });
    await ctx.deps.rest.call(portal.id, 'user.admin').catch(() => undefined);
    expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('inactive');
    const { page } = await login();
    expect(page.text).not.toContain('evil.example');
    expect(page.text).toMatch(/<span class="st st-failed">inactive<\/span> <span class="hint">PAYMENT_REQUIRED: the portal(&#39;|')s plan is not paid;/);
    // Where the operator's own settings are the cause, the console says to fix them first.
    expect(shownInactiveReason('invalid_client: The client credentials are invalid')).toBe(
      "invalid_client: the OAuth server refused the app's client id or secret: set B24_CLIENT_ID and B24_CLIENT_SECRET as the app's, restart, then an administrator opening the app revives it",
    );
  });

  it('disables and enables a portal, registers its providers again, and retries its failed status reports', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const { cookie, csrf } = await login();
    const act = (what: string) => request(ctx.app).post(`/admin/portals/${portal.id}/${what}`).set('cookie', cookie).type('form').send({ csrf });

    expect((await act('disable')).status).toBe(303);
    fp.messages.set('a'.repeat(32), { code: 'smsgw_myshop', authorId: 1 });
    const refused = await postHandler(ctx, { portal: fp, id: 'a'.repeat(32), text: 'x' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('portal_disabled');
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get('a'.repeat(32))).toBe('failed'); // Bitrix24 is told, whatever our answer was
    expect((await act('enable')).status).toBe(303);
    expect((await postHandler(ctx, { portal: fp, id: 'b'.repeat(32), text: 'x' })).status).toBe(200);

    fp.senders.clear();
    const rereg = await act('reregister');
    const shown = (location: string) => request(ctx.app).get(location).set('cookie', cookie).then((r) => /<div class="ok" role="status">([^<]*)</.exec(r.text)?.[1]);
    expect(await shown(String(rereg.headers.location))).toBe(`${portal.domain}: registered smsgw_myshop`);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);

    const id = await postSms(ctx, fp, { to: 'garbage' });
    fp.purged.add(id);
    // Minutes old: not found then means purged, not recorded yet.
    await ctx.db('status_reports').where({ b24_message_id: id }).update({ created_at: ctx.deps.clock() - 10 * 60_000 });
    await ctx.deps.reporter.runOnce();
    expect((await ctx.db('status_reports').where({ b24_message_id: id }).first()).outcome).toBe('dropped');
    fp.purged.delete(id);
    const woken: string[] = []; // npm start's background process, which sends the reports, is woken too
    ctx.deps.wake.forwardTo((what) => woken.push(what));
    expect(await shown(String((await act("retry-reports")).headers.location))).toBe(`${portal.domain}: 1 status reports queued again`);
    expect(woken).toEqual(['settled']);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });
});

/** `name=value` of each cookie a response sets, ready for a Cookie header. */
const setCookies = (res: request.Response) =>
  Object.fromEntries(([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!.split('=')).map(([k, ...v]) => [k!, `${k}=${v.join('=')}`]));
const attempt = (app: TestContext['app'], password: string, o: { cookie?: string; forwardedFor?: string } = {}) => {
  const r = request(app).post('/admin/login').type('form');
  if (o.cookie) r.set('cookie', o.cookie);
  if (o.forwardedFor) r.set('x-forwarded-for', o.forwardedFor);
  return r.send({ password });
};

describe('operator console login throttle', () => {
  it('lets the operator whose browser signed in before in, while guesses from the same address are locked out', async () => {
    const first = await attempt(ctx.app, PASSWORD);
    const device = setCookies(first).b24sms_device!;
    expect(device).toBeDefined();
    expect(String(first.headers['set-cookie'])).toMatch(/b24sms_device=[^;]+; Max-Age=31536000; Path=\/admin; Expires=[^;]+; HttpOnly; Secure; SameSite=Strict/);

    for (let i = 0; i < 5; i++) expect((await attempt(ctx.app, 'guess')).status).toBe(401);
    expect((await attempt(ctx.app, PASSWORD)).status).toBe(429); // no device cookie: the address is locked

    const operator = await attempt(ctx.app, PASSWORD, { cookie: device });
    expect(operator.status).toBe(303);
    expect(setCookies(operator).b24sms_admin).toBeDefined();
    // A forged or session cookie in its place is no device: the address's lockout applies.
    expect((await attempt(ctx.app, PASSWORD, { cookie: `b24sms_device=${device.split('=')[1]!.replace(/.$/, 'x')}` })).status).toBe(429);
    expect((await attempt(ctx.app, PASSWORD, { cookie: setCookies(operator).b24sms_admin!.replace('b24sms_admin', 'b24sms_device') })).status).toBe(429);
  });

  it('counts failures across web processes: guesses spread over two processes on one database lock both', async () => {
    // A second web process: its own deps and memory, the same database.
    const other = createApp(buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    for (let i = 0; i < 5; i++) expect((await attempt(i % 2 ? other : ctx.app, 'guess')).status).toBe(401);
    expect((await attempt(ctx.app, PASSWORD)).status).toBe(429);
    expect((await attempt(other, PASSWORD)).status).toBe(429);
  });

  it('guesses sent all at once get no more tries than guesses sent one by one', async () => {
    const statuses = (await Promise.all(Array.from({ length: 20 }, () => attempt(ctx.app, 'guess')))).map((a) => a.status);
    expect(statuses.filter((st) => st !== 401).every((st) => st === 429)).toBe(true);
    // What the window has left, one by one: the guesses compared in all are the limit, however they were sent.
    let compared = statuses.filter((st) => st === 401).length;
    for (let i = 0; i < 10; i++) {
      const st = (await attempt(ctx.app, 'guess')).status;
      if (st === 429) break;
      expect(st).toBe(401);
      compared++;
    }
    expect(compared).toBe(5);
    expect((await attempt(ctx.app, PASSWORD)).status).toBe(429);
  });

  it('throttles a known browser on its own: its failures lock it, not the address', async () => {
    const device = setCookies(await attempt(ctx.app, PASSWORD)).b24sms_device!;
    for (let i = 0; i < 5; i++) expect((await attempt(ctx.app, 'typo', { cookie: device })).status).toBe(401);
    const locked = await attempt(ctx.app, PASSWORD, { cookie: device });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await attempt(ctx.app, PASSWORD)).status).toBe(303);
  });

  it('a browser keeps its device across sign-ins instead of collecting a new one each time', async () => {
    const deviceId = (res: request.Response) => ctx.deps.crypto.readSigned<{ id: string }>(decodeURIComponent(setCookies(res).b24sms_device!.split('=')[1]!))!.id;
    const first = await attempt(ctx.app, PASSWORD);
    const again = await attempt(ctx.app, PASSWORD, { cookie: setCookies(first).b24sms_device });
    expect(deviceId(again)).toBe(deviceId(first));
    // A browser without one gets a new one.
    expect(deviceId(await attempt(ctx.app, PASSWORD))).not.toBe(deviceId(first));
  });

  it('device cookies earned with an old ADMIN_PASSWORD give no extra guesses against the new one', async () => {
    // Whoever knew the old password (a leak, a former operator) signs in a few times and keeps the device cookies.
    const devices: string[] = [];
    for (let i = 0; i < 4; i++) devices.push(setCookies(await attempt(ctx.app, PASSWORD)).b24sms_device!);
    const changed = createApp(buildDeps({ config: { ...ctx.config, ADMIN_PASSWORD: 'operator-secret-2' }, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    let compared = 0;
    for (const cookie of [undefined, ...devices]) {
      for (let i = 0; i < 10; i++) {
        const st = (await attempt(changed, `guess-${i}`, { cookie })).status;
        if (st !== 401) break;
        compared++;
      }
    }
    expect(compared).toBe(5); // one address: LOGIN_THROTTLE's 5 guesses per 15 minutes
    expect((await attempt(changed, 'operator-secret-2', { cookie: devices[0] })).status).toBe(429);
  });

  it('after ADMIN_PASSWORD changed, the operator signing in with the new one gets a device good against guesses from the address', async () => {
    const old = setCookies(await attempt(ctx.app, PASSWORD)).b24sms_device!;
    const changed = createApp(buildDeps({ config: { ...ctx.config, ADMIN_PASSWORD: 'operator-secret-2' }, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    const renewed = setCookies(await attempt(changed, 'operator-secret-2', { cookie: old })).b24sms_device!;
    for (let i = 0; i < 5; i++) expect((await attempt(changed, 'guess')).status).toBe(401);
    expect((await attempt(changed, 'operator-secret-2', { cookie: old })).status).toBe(429);
    expect((await attempt(changed, 'operator-secret-2', { cookie: renewed })).status).toBe(303);
  });

  it('a device cookie set before cookies carried the password tag keeps the operator out of the address\'s lockout until ADMIN_PASSWORD changes', async () => {
    const untagged = `b24sms_device=${encodeURIComponent(ctx.deps.crypto.sign({ purpose: 'console.device', id: 'a'.repeat(32) }, ctx.deps.clock() + 86_400_000))}`;
    for (let i = 0; i < 5; i++) expect((await attempt(ctx.app, 'guess')).status).toBe(401);
    expect((await attempt(ctx.app, PASSWORD, { cookie: untagged })).status).toBe(303);
    // Another process of the same deployment agrees; under a new password such a cookie is no device.
    const same = createApp(buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    expect((await attempt(same, PASSWORD, { cookie: untagged })).status).toBe(303);
    const changed = createApp(buildDeps({ config: { ...ctx.config, ADMIN_PASSWORD: 'operator-secret-2' }, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY }));
    expect((await attempt(changed, 'operator-secret-2', { cookie: untagged })).status).toBe(429);
  });

  it('with TRUST_PROXY=loopback, counts the client address the proxy forwards', async () => {
    const behind = await createTestContext({ fake, env: { ADMIN_PASSWORD: PASSWORD, TRUST_PROXY: 'loopback' } });
    try {
      for (let i = 0; i < 5; i++) expect((await attempt(behind.app, 'guess', { forwardedFor: '203.0.113.7' })).status).toBe(401);
      expect((await attempt(behind.app, PASSWORD, { forwardedFor: '203.0.113.7' })).status).toBe(429);
      expect((await attempt(behind.app, PASSWORD, { forwardedFor: '198.51.100.20' })).status).toBe(303);
    } finally {
      await behind.close();
    }
  });

  it('without TRUST_PROXY, ignores X-Forwarded-For: a client cannot pick a fresh address per guess', async () => {
    for (let i = 0; i < 5; i++) expect((await attempt(ctx.app, 'guess', { forwardedFor: `203.0.113.${i}` })).status).toBe(401);
    expect((await attempt(ctx.app, PASSWORD, { forwardedFor: '198.51.100.20' })).status).toBe(429);
  });
});
