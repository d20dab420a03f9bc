import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { formState, installPortal, openAppPage, openInstallPage, stateFor, submitInstallForm } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { postSms } from './helpers/sms.js';
import { untilIdle } from './helpers/wait.js';
import type { ListeningContext } from './helpers/server.js';
import type { B24Error } from '../src/bitrix/errors.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ADMIN_PASSWORD = 'console-password-123';

let now = Date.UTC(2026, 10, 30, 9);
const clock = () => now;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function installed(o: { listening?: boolean } = {}): Promise<InstalledPortal<TestContext | ListeningContext>> {
  now = Date.UTC(2026, 10, 30, 9);
  const t = await installedPortal({
    clock, random: () => 0.5, listening: o.listening as true, env: { ADMIN_PASSWORD },
    smsru: { keys: { 'good-key': 50 } }, install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' },
  });
  cleanups.push(t.close);
  return t;
}

/** A bare app and fake Bitrix24, for installs that are about to go wrong. */
async function bare() {
  const fake = await startFakeBitrix24();
  const ctx = await createTestContext({ fake, clock });
  cleanups.push(() => fake.close(), () => ctx.close());
  return { fake, ctx };
}

const pauses = (ctx: TestContext) => ctx.db('portal_pauses').orderBy('scope');
/** A request that reaches the portal takes this fault; one refused locally leaves it waiting. */
const tripwire = (fp: FakePortal) => fp.failNext.push({ status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'reached the portal' } });

describe('on-premise portals: the REST methods the app needs', () => {
  it('registers nothing on a portal without messageservice.message.status.update, and names what is missing', async () => {
    const { fake, ctx } = await bare();
    const fp = await fake.addPortal({ missingMethods: ['messageservice.message.status.update'] });
    const page = await openInstallPage(ctx, fake, fp);
    expect(page.status).toBe(200);
    expect(page.text).toContain('messageservice.message.status.update');
    const done = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'k', sender: 'MyShop' });
    expect(done.status).toBe(409);
    expect(done.text).toMatch(/lacks what the app needs: messageservice\.message\.status\.update.*install the Bitrix24 updates \(the modules messageservice\)/);
    expect(done.text).not.toContain('BX24.installFinish');
    expect(fp.senders.size).toBe(0);
    expect(fp.events).toEqual([]);
    expect(fp.calls.map((c) => c.method)).not.toContain('messageservice.sender.add');
    expect(await ctx.db('settings')).toHaveLength(0);
  });

  it('asks an old portal without method.get the deprecated methods list, and says in Russian that event.bind (module rest) is missing', async () => {
    const { fake, ctx } = await bare();
    const fp = await fake.addPortal({ missingMethods: ['method.get', 'event.bind'] });
    const page = await openInstallPage(ctx, fake, fp, { lang: 'ru' });
    const done = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'k', sender: 'MyShop' });
    expect(done.status).toBe(409);
    expect(done.text).toContain('В этом Битрикс24 нет того, что нужно приложению: event.bind');
    expect(done.text).toContain('модули rest');
    expect(fp.calls.map((c) => c.method)).toContain('methods');
    expect(fp.senders.size).toBe(0);
  });

  it('calls a portal with neither method.get nor methods too old, and registers nothing', async () => {
    const { fake, ctx } = await bare();
    const fp = await fake.addPortal({ missingMethods: ['method.get', 'methods'] });
    const page = await openInstallPage(ctx, fake, fp);
    const done = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'k', sender: 'MyShop' });
    expect(done.status).toBe(409);
    expect(done.text).toContain('too old to tell which REST methods it has');
    expect(fp.senders.size).toBe(0);
  });

  it('installs on an old portal without method.get when the methods list has everything', async () => {
    const { fake, ctx } = await bare();
    const fp = await fake.addPortal({ missingMethods: ['method.get'] });
    await installPortal(ctx, fake, fp);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
  });
});

describe('on-premise portals: "Check the connection"', () => {
  async function openChecks(t: InstalledPortal<TestContext | ListeningContext>) {
    const page = await openAppPage(t.ctx, t.fake, t.fp);
    expect(page.status).toBe(200);
    const start = stateFor(page.text, '/app/connection-check');
    const status = /id="connection-form" data-status-state="([^"]*)"/.exec(page.text)?.[1] ?? '';
    expect(start && status).toBeTruthy();
    return {
      start: () => request(t.ctx.app).post('/app/connection-check').set('accept', 'application/json').type('form').send({ state: start }),
      status: () => request(t.ctx.app).post('/app/connection-check/status').set('accept', 'application/json').type('form').send({ state: status }),
    };
  }

  it('says the test event arrived when Bitrix24 delivers ONAPPTEST to the app', async () => {
    const t = await installed({ listening: true });
    const checks = await openChecks(t);
    const started = await checks.start();
    expect(started.status).toBe(200);
    expect(['waiting', 'arrived']).toContain(started.body.state);
    expect(t.fp.calls.map((c) => c.method)).toContain('event.test');
    await Promise.all(t.fp.eventDeliveries); // the queue's POST of ONAPPTEST to our /events
    const res = await checks.status();
    expect(res.body).toEqual({ state: 'arrived', message: 'The test event arrived: Bitrix24 reaches this app.' });
  });

  it('says the test event did not arrive, and what to open in the firewall, when the portal blocks the event queue', async () => {
    const t = await installed({ listening: true });
    t.fp.eventQueueBlocked = true;
    const checks = await openChecks(t);
    expect((await checks.start()).body.state).toBe('waiting');
    await Promise.all(t.fp.eventDeliveries);
    expect((await checks.status()).body.state).toBe('waiting');
    now += 10_000;
    const res = await checks.status();
    expect(res.body.state).toBe('lost');
    const appHost = new URL((t.ctx as ListeningContext).publicUrl).host;
    expect(res.body.message).toContain('did not arrive within 10 seconds');
    expect(res.body.message).toContain('outgoing HTTPS (port 443) from the Bitrix24 server to oauth.bitrix.info');
    expect(res.body.message).toContain('https://dl.bitrix24.com/webhook/app-world.json');
    expect(res.body.message).toContain(appHost);
  });

  it('binds ONAPPTEST to /events before asking: without the binding Bitrix24 answers event.test but sends nothing', async () => {
    const t = await installed({ listening: true });
    expect(t.fp.events.map((e) => e.event)).not.toContain('ONAPPTEST');
    expect(await t.ctx.deps.rest.call(t.portal.id, 'event.test', { any: 'data' })).toBe(1);
    expect(t.fp.eventDeliveries).toHaveLength(0);

    const checks = await openChecks(t);
    await checks.start();
    expect(t.fp.events).toContainEqual({ event: 'ONAPPTEST', handler: `${(t.ctx as ListeningContext).publicUrl}/events` });
    await Promise.all(t.fp.eventDeliveries);
    expect((await checks.status()).body.state).toBe('arrived');
    // A second check binds nothing new.
    await checks.start();
    expect(t.fp.events.filter((e) => e.event === 'ONAPPTEST')).toHaveLength(1);
  });

  it('does not count an ONAPPTEST with a wrong application_token, nor let a non-administrator start a check', async () => {
    const t = await installed();
    const checks = await openChecks(t);
    t.fp.eventQueueBlocked = true;
    await checks.start();
    const nonce = String(t.fp.calls.find((c) => c.method === 'event.test')!.params.check);
    const forged = await request(t.ctx.app).post('/events').type('form').send({
      event: 'ONAPPTEST', 'data[QUERY][check]': nonce, 'auth[member_id]': t.fp.memberId, 'auth[domain]': t.fp.domain, 'auth[application_token]': 'forged',
    });
    expect(forged.status).toBe(401);
    expect((await checks.status()).body.state).toBe('waiting');

    const employee = await openAppPage(t.ctx, t.fake, t.fp, { userId: 2 });
    expect(employee.text).not.toContain('connection-form');
    const logToken = formState(employee.text);
    const refused = await request(t.ctx.app).post('/app/connection-check').set('accept', 'application/json').type('form').send({ state: logToken });
    expect(refused.status).toBe(403);
    expect(t.fp.calls.filter((c) => c.method === 'event.test')).toHaveLength(1);
  });
});

describe('on-premise portals: pauses Bitrix24 asks for', () => {
  async function deliverAll(t: InstalledPortal, n: number) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await postSms(t.ctx, t.fp, { to: `+7999${String(i).padStart(7, '0')}` }));
    await untilIdle(t.ctx.deps.worker);
    t.smsru.settle();
    await t.ctx.deps.statusesJob.runOnce();
    return ids;
  }

  it('PORTAL_DELETED pauses the portal with a growing back-off, keeps reports, stays active for days and resumes', async () => {
    const t = await installed();
    const { ctx, fp, portal } = t;
    const ids = await deliverAll(t, 2);
    fp.siteStopped = true;
    await ctx.deps.reporter.runOnce();
    expect(await ctx.deps.reports.backlog()).toBe(2);
    expect(await pauses(ctx)).toMatchObject([{ scope: '*', reason: 'PORTAL_DELETED', strikes: 1, until: now + 5 * MINUTE }]);

    // While paused, calls are refused here, retryable, and never reach the portal.
    tripwire(fp);
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'PORTAL_PAUSED', kind: 'retryable' });
    await ctx.deps.reporter.runOnce();
    expect(fp.failNext).toHaveLength(1);
    fp.failNext.length = 0;

    // Three days closed: each time the pause runs out one call tries, and the pause grows (capped at 6 hours).
    const closedAt = now;
    const waits: number[] = [];
    while (now < closedAt + 3 * DAY) {
      const [p] = await pauses(ctx);
      now = Number(p.until);
      await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'PORTAL_DELETED', kind: 'retryable' });
      waits.push(Number((await pauses(ctx))[0].until) - now);
    }
    expect(waits.slice(0, 3)).toEqual([10 * MINUTE, 20 * MINUTE, 40 * MINUTE]);
    expect(Math.max(...waits)).toBe(6 * HOUR);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await ctx.deps.reports.backlog()).toBe(2);

    // The public part opens again: the next call after the pause goes through and clears it; the reports go out.
    fp.siteStopped = false;
    now = Number((await pauses(ctx))[0].until) + 1;
    await ctx.deps.reporter.runOnce();
    expect(ids.map((id) => fp.shown.get(id))).toEqual(['delivered', 'delivered']);
    expect(await pauses(ctx)).toEqual([]);
  });

  it('calls a portal inactive only after 7 days of PORTAL_DELETED', async () => {
    const t = await installed();
    const { ctx, fp, portal } = t;
    fp.siteStopped = true;
    const closedAt = now;
    for (;;) {
      const last = (await ctx.deps.rest.call(portal.id, 'user.admin').catch((e: B24Error) => e)) as B24Error;
      if (last.kind === 'terminal') break;
      expect(last.code).toBe('PORTAL_DELETED');
      now = Number((await pauses(ctx))[0].until);
    }
    expect(now - closedAt).toBeGreaterThanOrEqual(7 * DAY);
    expect(now - closedAt).toBeLessThan(7 * DAY + 6 * HOUR + 1);
    expect(await ctx.deps.portals.findById(portal.id)).toMatchObject({ status: 'inactive', inactiveReason: expect.stringMatching(/^PORTAL_DELETED/) });
  });

  it('OVERLOAD_LIMIT pauses the whole portal for an hour, shows in the console, and clears when calls work again', async () => {
    const t = await installed();
    const { ctx, fp, portal } = t;
    fp.overloaded = true;
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'OVERLOAD_LIMIT', kind: 'retryable' });
    expect(await pauses(ctx)).toMatchObject([{ scope: '*', reason: 'OVERLOAD_LIMIT', until: now + HOUR }]);
    tripwire(fp);
    await expect(ctx.deps.rest.call(portal.id, 'profile')).rejects.toMatchObject({ code: 'PORTAL_PAUSED' });
    expect(fp.failNext).toHaveLength(1);
    fp.failNext.length = 0;

    const login = await request(ctx.app).post('/admin/login').type('form').send({ password: ADMIN_PASSWORD });
    const cookie = String(login.headers['set-cookie']);
    const consolePage = await request(ctx.app).get('/admin').set('cookie', cookie);
    expect(consolePage.text).toContain('paused: OVERLOAD_LIMIT');
    expect(consolePage.text).toContain(`until ${new Date(now + HOUR).toISOString().slice(0, 16).replace('T', ' ')} UTC`);

    // Still blocked an hour later: the next pause is longer. Then support lifts the block.
    now += HOUR;
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'OVERLOAD_LIMIT' });
    expect(await pauses(ctx)).toMatchObject([{ reason: 'OVERLOAD_LIMIT', strikes: 2, until: now + 2 * HOUR }]);
    fp.overloaded = false;
    now += 2 * HOUR;
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect(await pauses(ctx)).toEqual([]);
    expect((await request(ctx.app).get('/admin').set('cookie', cookie)).text).not.toContain('paused:');
  });

  it('OPERATION_TIME_LIMIT pauses only that method, until the operating_reset_at its answers carried', async () => {
    const t = await installed();
    const { ctx, fp, portal } = t;
    const resetAt = Math.floor(now / 1000) + 240;
    fp.operatingResetAt.set('user.admin', resetAt);
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    fp.timeLimited.add('user.admin');
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'OPERATION_TIME_LIMIT', kind: 'retryable' });
    expect(await pauses(ctx)).toMatchObject([{ scope: 'user.admin', reason: 'OPERATION_TIME_LIMIT', until: resetAt * 1000 }]);

    // Other methods go on; this one waits without a request until operating_reset_at.
    expect(await ctx.deps.rest.call(portal.id, 'profile')).toMatchObject({ ID: '1' });
    now = resetAt * 1000 - 1;
    tripwire(fp);
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'PORTAL_PAUSED' });
    expect(fp.failNext).toHaveLength(1);
    fp.failNext.length = 0;
    fp.timeLimited.delete('user.admin');
    now = resetAt * 1000;
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
    expect(await pauses(ctx)).toEqual([]);
  });

  it('OPERATION_TIME_LIMIT waits for the operating_reset_at of the error answer, or the 10-minute window without one', async () => {
    const t = await installed();
    const { ctx, fp, portal } = t;
    const resetAt = Math.floor(now / 1000) + 90;
    fp.failNext.push({ status: 429, body: { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.', time: { start: now / 1000, operating_reset_at: resetAt } } });
    await expect(ctx.deps.rest.call(portal.id, 'event.get')).rejects.toMatchObject({ code: 'OPERATION_TIME_LIMIT' });
    fp.failNext.push({ status: 429, body: { error: 'OPERATION_TIME_LIMIT', error_description: 'Method is blocked due to operation time limit.' } });
    await expect(ctx.deps.rest.call(portal.id, 'profile')).rejects.toMatchObject({ code: 'OPERATION_TIME_LIMIT' });
    expect((await pauses(ctx)).map((p) => [p.scope, Number(p.until)])).toEqual([['event.get', resetAt * 1000], ['profile', now + 10 * MINUTE]]);
  });
});

describe('on-premise portals: NO_AUTH_FOUND', () => {
  const noAuth = { status: 401, body: { error: 'NO_AUTH_FOUND', error_description: 'Wrong authorization data' } };

  it('is answered with one refresh and the call tried again', async () => {
    const t = await installed();
    const before = t.fake.refreshCount;
    t.fp.failNext.push(noAuth);
    expect(await t.ctx.deps.rest.call(t.portal.id, 'user.admin')).toBe(true);
    expect(t.fake.refreshCount - before).toBe(1);
    expect((await t.ctx.deps.portals.findById(t.portal.id))?.status).toBe('active');
  });

  it('makes the portal inactive when it comes again after the refresh', async () => {
    const t = await installed();
    const before = t.fake.refreshCount;
    t.fp.failNext.push(noAuth, noAuth);
    await expect(t.ctx.deps.rest.call(t.portal.id, 'user.admin')).rejects.toMatchObject({ code: 'NO_AUTH_FOUND', kind: 'terminal' });
    expect(t.fake.refreshCount - before).toBe(1);
    expect(await t.ctx.deps.portals.findById(t.portal.id)).toMatchObject({ status: 'inactive', inactiveReason: expect.stringMatching(/^NO_AUTH_FOUND/) });
  });
});

describe('on-premise portals: a certificate from the portal\'s own CA', () => {
  it('the install page says plainly that the portal\'s certificate is not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'b24-cert-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A self-signed certificate for 127.0.0.1, as a portal behind its company's own CA presents to us.
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const { fake, ctx } = await bare();
    const fp = await fake.addPortal();
    fp.domain = `127.0.0.1:${(server.address() as AddressInfo).port}`; // the OAuth server names the https address
    const t = fake.issueTokens(fp);
    const res = await request(ctx.app)
      .post(`/install?${new URLSearchParams({ DOMAIN: fp.domain, PROTOCOL: '1', LANG: 'en' })}`)
      .type('form')
      .send({ AUTH_ID: t.accessToken, AUTH_EXPIRES: '3600', REFRESH_ID: t.refreshToken, member_id: fp.memberId, APPLICATION_TOKEN: fp.applicationToken });
    expect(res.status).toBe(502);
    expect(res.text).toContain(`Your Bitrix24 (${fp.domain}) answered with a security certificate this service does not trust`);
    expect(await ctx.db('portals')).toHaveLength(0);
  });
});
