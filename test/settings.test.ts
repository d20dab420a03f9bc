import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import { startFakeKannel } from './fakes/kannel.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal, openAppPage, stateFor, statusState } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';

let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, fp, ctx, smsru, close } = await installedPortal({ smsru: { keys: { 'good-key': 321.5, 'other-key': 10 } }, install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' } }));
});
afterEach(() => close());

const post = (path: string, fields: Record<string, string>) => request(ctx.app).post(path).type('form').send(fields);

describe('the app page inside Bitrix24 (POST /)', () => {
  it('shows an administrator the gateway (balance, no secrets), the senders and the log; frameable only by the portal', async () => {
    const res = await openAppPage(ctx, fake, fp);
    expect(res.status).toBe(200);
    expect(res.text).toContain('SMS gateway settings');
    expect(res.text).toContain('Gateway balance: <b id="balance">321.50</b>');
    expect(res.text).toContain('Saved (not shown)');
    expect(res.text).not.toContain('good-key');
    expect(res.text).toMatch(/<li><span>MyShop<\/span>/);
    expect(res.headers['content-security-policy']).toContain(`frame-ancestors http://${fp.domain}`);
  });

  it('says the balance is not available when the gateway does not answer, rather than wait for GATEWAY_TIMEOUT_MS', async () => {
    const kannel = await startFakeKannel();
    const slow = await createTestContext({ fake, env: { ALLOW_PRIVATE_GATEWAYS: '1', GATEWAY_TIMEOUT_MS: '60000' } });
    try {
      const other = await fake.addPortal();
      await installPortal(slow, fake, other, { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'Shop' });
      kannel.setBehaviour({ kind: 'trickle', status: 200, everyMs: 1_000, bytes: 3_600 }); // headers, then a byte a second for an hour
      const page = await openAppPage(slow, fake, other);
      expect(page.status).toBe(200);
      expect(page.text).toContain('Gateway balance: <b id="balance">not available</b>');
    } finally {
      await slow.close();
      await kannel.close();
    }
  }, 20_000); // well under GATEWAY_TIMEOUT_MS: only the balance's own deadline lets the page answer in time

  it('refuses a forged frame (a token of another portal) or an app that is not installed, showing nothing', async () => {
    const other = await fake.addPortal();
    const forged = await openAppPage(ctx, fake, fp, { tokens: fake.issueTokens(other) });
    expect(forged.status).toBe(401);
    expect(forged.text).not.toContain('Message log');
    fp.installed = false;
    const notInstalled = await openAppPage(ctx, fake, fp);
    expect(notInstalled.status).toBe(401);
    expect(notInstalled.text).toContain('not installed');
  });

  it('gives a user who is not an administrator a read-only log, and refuses their changes with 403', async () => {
    await postSms(ctx, fp, { to: '+79991234567' });
    const page = await openAppPage(ctx, fake, fp, { userId: 2 });
    expect(page.status).toBe(200);
    expect(page.text).toContain('Only a Bitrix24 administrator can change the settings');
    expect(page.text).not.toContain('action="/app/gateway"');
    expect(page.text).toContain('+•••••••4567');
    const state = stateFor(page.text, '/app/log');
    expect((await post('/app/gateway', { state, provider: 'smsru', api_key: 'x' })).status).toBe(403);
    expect((await post('/app/senders/add', { state, sender_name: 'Evil' })).status).toBe(403);
    expect((await post('/app/test-sms', { state, phone: '+79991234567', text: 'x' })).status).toBe(403);
    expect(fp.senders.size).toBe(1);
  });

  it('an administrator opening the page revives a portal whose stored tokens died', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    fake.expireAccessTokens(fp);
    fake.revokeRefreshTokens(fp);
    await expect(ctx.deps.rest.call(portal.id, 'user.admin')).rejects.toMatchObject({ code: 'invalid_grant' });
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('inactive');
    expect((await openAppPage(ctx, fake, fp, { userId: 2 })).text).not.toContain('action="/app/gateway"'); // a non-admin changes nothing
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('inactive');
    expect((await openAppPage(ctx, fake, fp)).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await ctx.deps.rest.call(portal.id, 'user.admin')).toBe(true);
  });

  it('never shows a non-administrator full numbers, not even in the CSV', async () => {
    await postSms(ctx, fp, { to: '+79991234567' });
    const state = stateFor((await openAppPage(ctx, fake, fp, { userId: 2 })).text, '/app/log');
    const csv = await post('/app/log.csv', { state, full: '1' });
    expect(csv.text).toContain('+•••••••4567');
    expect(csv.text).not.toContain('79991234567');
    const page = await post('/app/log', { state, full: '1' });
    expect(page.text).not.toContain('79991234567');
  });

  it('is never kept in caches: it carries bearer form tokens and, for administrators, full numbers', async () => {
    const page = await openAppPage(ctx, fake, fp);
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toMatch(/no-store/);
    const log = await post('/app/log', { state: stateFor(page.text, '/app/log'), full: '1' });
    expect(log.status).toBe(200);
    expect(log.headers['cache-control']).toMatch(/no-store/);
  });

  it('refuses a tampered state with 401', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp, { userId: 2 })).text, '/app/log');
    const [payload, sig] = state.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, v: { ...claims.v, p: 'app.senders.add', admin: true } })).toString('base64url');
    expect((await post('/app/senders/add', { state: `${forged}.${sig}`, sender_name: 'Evil' })).status).toBe(401);
    expect((await post('/app/log', { state: 'garbage' })).status).toBe(401);
  });

  it('adds a second sender as its own provider and removes it from Bitrix24 again', async () => {
    const page = (await openAppPage(ctx, fake, fp)).text;
    const state = stateFor(page, '/app/senders/add');
    const added = await post('/app/senders/add', { state, sender_name: 'Promo' });
    expect(added.status).toBe(200);
    expect(added.text).toContain('Sender added');
    expect([...fp.senders.keys()].sort()).toEqual(['smsgw_myshop', 'smsgw_promo']);
    expect(fp.senders.get('smsgw_promo')).toMatchObject({ NAME: 'Promo', HANDLER: fp.senders.get('smsgw_myshop')!.HANDLER });
    const bad = await post('/app/senders/add', { state, sender_name: 'Far too long a name' });
    expect(bad.status).toBe(422);
    const removed = await post('/app/senders/remove', { state: stateFor(added.text, '/app/senders/remove'), code: 'smsgw_promo' });
    expect(removed.status).toBe(200);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
  });

  it('checks new credentials with the gateway before saving, and changes the default country', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const wrong = await post('/app/gateway', { state, provider: 'smsru', api_key: 'bad-key', default_country: 'KZ' });
    expect(wrong.status).toBe(422);
    expect(wrong.text).toMatch(/id="api_key-error">Неправильный api_id/);
    const ok = await post('/app/gateway', { state, provider: 'smsru', api_key: '', default_country: 'KZ' });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('Saved.');
    const portal = await ctx.deps.portals.findByMemberId(fp.memberId);
    expect(portal?.defaultCountry).toBe('KZ');
    expect((await ctx.deps.settings.get(portal!.id))?.credentials).toEqual({ api_key: 'good-key' });
  });

  it('after a switch to another account, a message the first one took is asked about only at the first one (kept as retired)', async () => {
    const switchTo = async (apiKey: string) => {
      const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
      expect((await post('/app/gateway', { state, provider: 'smsru', api_key: apiKey })).status).toBe(200);
    };
    const first = await postSms(ctx, fp, { text: 'Taken by the first account' });
    await ctx.deps.worker.runOnce();
    expect((await messageRow(ctx, first)).state).toBe('sent');
    await switchTo('other-key');
    // Asked at the new account, SMS.ru would answer -1 ("not found") for the first account's message.
    await ctx.deps.statusesJob.runOnce();
    expect((await messageRow(ctx, first)).state).toBe('sent');
    expect(fp.shown.get(first)).toBe('sent');
    // The new account's messages are polled as before, and the first account is still asked about its own.
    const second = await postSms(ctx, fp, { text: 'Taken by the second account' });
    await ctx.deps.worker.runOnce();
    smsru.settle();
    await ctx.deps.statusesJob.runOnce();
    expect((await messageRow(ctx, second)).state).toBe('delivered');
    expect((await messageRow(ctx, first)).state).toBe('delivered');
    expect([...smsru.messages.values()].map((m) => m.apiKey).sort()).toEqual(['good-key', 'other-key']); // each sent once
  });

  it('sends a test SMS through the same queue, shows its status, and never reports it to Bitrix24', async () => {
    const page = (await openAppPage(ctx, fake, fp)).text;
    const state = stateFor(page, '/app/test-sms');
    const res = await request(ctx.app).post('/app/test-sms').type('form').set('accept', 'application/json').send({ state, phone: '8 999 765-43-21', text: 'Test' });
    expect(res.status).toBe(200);
    const id = res.body.id;
    const status = () => post(`/app/messages/${id}`, { state: statusState(page) }).then((r) => r.body);
    expect(await status()).toMatchObject({ state: 'queued' });
    await ctx.deps.worker.runOnce();
    expect(await status()).toMatchObject({ state: 'sent' });
    smsru.settle();
    await ctx.deps.statusesJob.runOnce();
    await ctx.deps.reporter.runOnce();
    expect(await status()).toMatchObject({ state: 'delivered' });
    expect([...smsru.messages.values()][0]).toMatchObject({ to: '79997654321', from: 'MyShop' });
    expect(fp.statusUpdates).toHaveLength(0);
    const invalid = await request(ctx.app).post('/app/test-sms').type('form').set('accept', 'application/json').send({ state, phone: '12', text: 'x' });
    expect(invalid.status).toBe(422);
  });

  it('filters the log by status and date, pages it, and exports CSV with masked numbers', async () => {
    for (let i = 0; i < 55; i++) await postSms(ctx, fp, { to: `+7999000${String(i).padStart(4, '0')}` });
    await postSms(ctx, fp, { to: 'garbage' });
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log');
    const first = await post('/app/log', { state });
    expect(first.text).toContain('page 1 of 2');
    expect((first.text.match(/<tr>/g) ?? []).length).toBe(51); // header + 50
    const failed = await post('/app/log', { state, status: 'failed' });
    expect((failed.text.match(/<tr>/g) ?? []).length).toBe(2);
    expect(failed.text).toContain('invalid phone number');
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const none = await post('/app/log', { state, from: tomorrow });
    expect(none.text).toContain('No messages yet.');
    const csv = await post('/app/log.csv', { state });
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0]).toBe('time_utc,recipient,sender,segments,status,reason,test');
    expect(lines).toHaveLength(57);
    expect(lines[2]).toMatch(/^\d{4}-.*,\+•+0054,/);
    expect(csv.text).not.toContain('79990000054');
    const full = await post('/app/log.csv', { state, full: '1' });
    expect(full.text).toContain('+79990000054');
  });
});

describe('a Kannel\'s parts per message (its max-messages)', () => {
  it('is saved from the form and shown again; a text that needs more parts is failed with the reason instead of cut by Kannel, and one that fits is sent', async () => {
    const kannel = await startFakeKannel({ behaviour: { kind: 'kannel' } });
    const k = await createTestContext({ fake, env: { ALLOW_PRIVATE_GATEWAYS: '1' } });
    try {
      const other = await fake.addPortal();
      const form = { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'Shop' };
      await installPortal(k, fake, other, { ...form, kannel_max_parts: '2' });
      const page = await openAppPage(k, fake, other);
      expect(page.text).toContain('id="kannel_max_parts" name="kannel_max_parts" inputmode="numeric" placeholder="10" value="2"');
      // A value Kannel has no use for is refused with the reason, and nothing is saved.
      const bad = await request(k.app).post('/app/gateway').type('form').send({ ...form, kannel_password: '', kannel_max_parts: '0', state: stateFor(page.text, '/app/gateway') });
      expect(bad.text).toContain('A whole number from 1 to 255, or empty');

      const long = await postSms(k, other, { text: 'x'.repeat(153 * 2 + 1) }); // three parts
      const fits = await postSms(k, other, { text: 'y'.repeat(153 * 2), to: '+79991234568' }); // two
      await k.deps.worker.runOnce();
      expect(await messageRow(k, long)).toMatchObject({ state: 'failed', failure_reason: 'text too long for this gateway: 3 parts, at most 2' });
      expect(await messageRow(k, fits)).toMatchObject({ state: 'sent' });
      expect(kannel.requests.filter((r) => r.path === '/cgi-bin/sendsms' && r.params.to).map((r) => r.params.text)).toEqual(['y'.repeat(306)]);
    } finally {
      await k.close();
      await kannel.close();
    }
  });
});
