import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createDispatcher } from '../src/platform/http.js';
import { createSandboxGateway, sandboxFate } from '../src/gateways/sandbox.js';
import { dlrMessageToken, dlrToken } from '../src/delivery/dlr-url.js';
import { ConfigError, loadConfig } from '../src/platform/config.js';
import { startRecorder } from './fakes/recorder.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import type { ListeningContext } from './helpers/server.js';
import { messageRow, postSms } from './helpers/sms.js';
import { openAppPage, openInstallPage } from './helpers/install.js';
import { eventually, untilIdle } from './helpers/wait.js';

const SANDBOX = { provider: 'sandbox', sender: 'MyShop' };
const sms = (id: number, to: string, dlrUrl: string) => ({ id, to, text: 'hi', sender: '', unicode: false, dlrUrl });

describe('configuration', () => {
  it('SANDBOX_DELAY is a duration, 2 s unless set; B24_JS_SDK_URL an http(s) or protocol-relative URL', () => {
    expect(loadConfig({}).SANDBOX_DELAY).toBe(2_000);
    expect(loadConfig({ SANDBOX_DELAY: '500ms' }).SANDBOX_DELAY).toBe(500);
    expect(() => loadConfig({ SANDBOX_DELAY: 'soon' })).toThrow(ConfigError);
    expect(loadConfig({}).B24_JS_SDK_URL).toBe('//api.bitrix24.com/api/v1/');
    expect(loadConfig({ B24_JS_SDK_URL: 'http://127.0.0.1:8080/bx24.js' }).B24_JS_SDK_URL).toBe('http://127.0.0.1:8080/bx24.js');
    expect(() => loadConfig({ B24_JS_SDK_URL: 'javascript:alert(1)' })).toThrow(/B24_JS_SDK_URL/);
  });
});

describe('the sandbox gateway on its own', () => {
  const dispatcher = createDispatcher();
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  beforeAll(async () => {
    recorder = await startRecorder({ status: 200, body: 'ok' });
  });
  afterAll(async () => {
    await recorder.close();
    await dispatcher.close();
  });

  it('chooses each number\'s fate by its last digits', () => {
    expect(sandboxFate('+79991234567')).toBe('delivered');
    expect(sandboxFate('+79991234560')).toBe('undelivered');
    expect(sandboxFate('+79991234500')).toBe('refused');
  });

  it('refuses a number ending in 00 at once, and reports the others to their report URL like a push gateway', async () => {
    const gw = createSandboxGateway({ dispatcher, timeoutMs: 2_000, delayMs: 0 });
    const refused = await gw.send(sms(1, '+79991234500', `${recorder.url}/r/1`));
    expect(refused).toMatchObject({ kind: 'permanent', code: 'NO_ROUTE' });
    expect(refused.text).toContain('no route');

    const ok = await gw.send(sms(2, '+79991234567', `${recorder.url}/r/2`));
    const off = await gw.send(sms(3, '+79991234560', `${recorder.url}/r/3`));
    expect(ok.kind).toBe('accepted');
    expect(off.kind).toBe('accepted');
    await eventually(() => recorder.requests.length >= 2, 'both reports');
    const byUrl = Object.fromEntries(recorder.requests.map((r) => [r.url, r]));
    expect(byUrl['/r/2']).toMatchObject({ method: 'POST', body: 'status=delivered' });
    expect(byUrl['/r/3']).toMatchObject({ method: 'POST', body: 'status=undelivered' });
    expect(byUrl['/r/1']).toBeUndefined();
  });

  it('answers a status poll from the message id: still sent before its moment, final after it', async () => {
    let now = 1_000_000;
    const gw = createSandboxGateway({ dispatcher, timeoutMs: 2_000, delayMs: 60_000, clock: () => now, random: () => 0.5 });
    const a = await gw.send(sms(4, '+79991234567', 'http://127.0.0.1:9/never'));
    const b = await gw.send(sms(5, '+79991234560', 'http://127.0.0.1:9/never'));
    const ids = [a, b].map((o) => (o.kind === 'accepted' ? o.gatewayMessageId! : ''));
    expect((await gw.fetchStatuses!(ids, [])).get(ids[0]!)?.state).toBe('sent');
    now += 60_000;
    const after = await gw.fetchStatuses!(ids, []);
    expect(after.get(ids[0]!)?.state).toBe('delivered');
    expect(after.get(ids[1]!)).toMatchObject({ state: 'undelivered', text: expect.stringContaining('switched off') });
  });
});

describe('a portal on the sandbox', () => {
  let t: InstalledPortal<ListeningContext>;
  beforeAll(async () => {
    t = await installedPortal({ listening: true, install: SANDBOX, env: { SANDBOX_DELAY: '0' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is offered on the install form of every installation, with what it does', async () => {
    const page = await openInstallPage(t.ctx, t.fake, t.fp);
    expect(page.text).toContain('<option value="sandbox"');
    expect(page.text).toContain('Sandbox (sends nothing)');
    expect(page.text).toContain('numbers ending in 00 are refused');
  });

  it('goes through the worker, the delivery-report route and the reporter: Bitrix24 shows delivered, not delivered, failed', async () => {
    const { ctx, fp } = t;
    const ok = await postSms(ctx, fp, { to: '+7 999 123-45-61', text: 'one' });
    const off = await postSms(ctx, fp, { to: '+7 999 123-45-60', text: 'two' });
    const noRoute = await postSms(ctx, fp, { to: '+7 999 123-45-00', text: 'three' });
    await untilIdle(ctx.deps.worker);
    expect((await messageRow(ctx, noRoute)).state).toBe('failed');
    // The other two are settled by the sandbox's reports, posted over HTTP to /dlr/sandbox/….
    await eventually(async () => (await messageRow(ctx, ok)).state === 'delivered' && (await messageRow(ctx, off)).state === 'undelivered', 'the sandbox reports');
    const rows = await Promise.all([ok, off, noRoute].map((id) => messageRow(ctx, id)));
    expect(rows.map((r) => r.gateway)).toEqual(['sandbox', 'sandbox', 'sandbox']);
    expect(rows[1].failure_reason).toContain('the phone is switched off');
    expect(rows[2].failure_reason).toContain('no route');
    await untilIdle(ctx.deps.reporter);
    expect([fp.shown.get(ok), fp.shown.get(off), fp.shown.get(noRoute)]).toEqual(['delivered', 'undelivered', 'failed']);
  });

  it('says on the settings page and in the message log that these messages were not really sent', async () => {
    const page = await openAppPage(t.ctx, t.fake, t.fp);
    expect(page.status).toBe(200);
    expect(page.text).toContain('id="sandbox-notice"');
    expect(page.text).toContain('NOT really sent');
    const tags = page.text.match(/class="tag sandbox-tag">sandbox: not really sent</g) ?? [];
    expect(tags.length).toBe(3);
  });

  it('takes reports only with the portal\'s secret, for its own sandbox messages, with a known status', async () => {
    const { ctx, portal } = t;
    const row = await ctx.db('messages').where({ portal_id: portal.id }).first();
    const url = (token: string, id: number) => `/dlr/sandbox/${portal.id}/${token}/${id}`;
    const token = dlrMessageToken(ctx.deps.crypto, portal.id, row.id);
    expect((await request(ctx.app).post(url('forged', row.id)).type('form').send({ status: 'delivered' })).status).toBe(401);
    expect((await request(ctx.app).post(url(dlrToken(ctx.deps.crypto, portal.id), row.id)).type('form').send({ status: 'delivered' })).status).toBe(401); // the portal's: not this message's
    expect((await request(ctx.app).post(url(dlrMessageToken(ctx.deps.crypto, portal.id, 999_999), 999_999)).type('form').send({ status: 'delivered' })).status).toBe(404);
    expect((await request(ctx.app).post(url(token, row.id)).type('form').send({ status: 'read' })).status).toBe(400);
    await ctx.db('messages').where({ id: row.id }).update({ gateway: 'smsru' });
    expect((await request(ctx.app).post(url(token, row.id)).type('form').send({ status: 'delivered' })).status).toBe(404);
    await ctx.db('messages').where({ id: row.id }).update({ gateway: 'sandbox' });
  });
});

describe('a sandbox report that never arrives', () => {
  let t: InstalledPortal | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('is settled by the statuses job\'s poll all the same', async () => {
    // PUBLIC_URL is a closed port on this machine: the sandbox's posts are lost.
    t = await installedPortal({ install: SANDBOX, env: { SANDBOX_DELAY: '0', PUBLIC_URL: 'http://127.0.0.1:9' } });
    const { ctx, fp } = t;
    const id = await postSms(ctx, fp, { to: '+7 999 123-45-67' });
    await untilIdle(ctx.deps.worker);
    expect((await messageRow(ctx, id)).state).toBe('sent');
    await ctx.deps.statusesJob.runOnce();
    expect((await messageRow(ctx, id)).state).toBe('delivered');
    await untilIdle(ctx.deps.reporter);
    expect(fp.shown.get(id)).toBe('delivered');
  });
});

describe('the provider\'s name in Bitrix24', () => {
  it('says that nothing is really sent while the portal is on the sandbox, and stops saying it once a real gateway is chosen', async () => {
    const t = await installedPortal({ install: SANDBOX });
    try {
      const name = () => t.fp.senders.get([...t.fp.senders.keys()][0]!)!.NAME as Record<string, string>;
      expect(name()).toEqual({ ru: expect.stringContaining('(песочница: SMS не отправляются)'), en: expect.stringContaining('(sandbox: nothing is really sent)') });
      await t.ctx.deps.settingsService.updateGateway(t.portal.id, { gateway: 'smsru', credentials: { api_key: 'real-key' } });
      expect(JSON.stringify(name())).not.toMatch(/sandbox|песочница/);
    } finally {
      await t.close();
    }
  });
});
