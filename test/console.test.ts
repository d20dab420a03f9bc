import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { postSms } from './helpers/sms.js';

const PASSWORD = 'operator-secret-1';
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;

beforeEach(async () => {
  fake = await startFakeBitrix24();
  fp = await fake.addPortal();
  ctx = await createTestContext({ fake, env: { ADMIN_PASSWORD: PASSWORD } });
  await installPortal(ctx, fake, fp);
});
afterEach(async () => {
  await ctx.close();
  await fake.close();
});

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

  it('disables and enables a portal, registers its providers again, and retries its failed status reports', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const { cookie, csrf } = await login();
    const act = (what: string) => request(ctx.app).post(`/admin/portals/${portal.id}/${what}`).set('cookie', cookie).type('form').send({ csrf });

    expect((await act('disable')).status).toBe(303);
    const sms = { message_id: 'a'.repeat(32), message_to: '+79991234567', message_body: 'x', 'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken };
    const refused = await request(ctx.app).post('/handler').type('form').send(sms);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('portal_disabled');
    expect((await act('enable')).status).toBe(303);
    expect((await request(ctx.app).post('/handler').type('form').send(sms)).status).toBe(200);

    fp.senders.clear();
    const rereg = await act('reregister');
    expect(rereg.headers.location).toContain('registered');
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);

    const id = await postSms(ctx, fp, { to: 'garbage' });
    fp.purged.add(id);
    await ctx.deps.reporter.runOnce();
    expect((await ctx.db('status_reports').first()).state).toBe('dropped');
    fp.purged.delete(id);
    expect((await act('retry-reports')).headers.location).toContain('1%20status%20reports');
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });
});
