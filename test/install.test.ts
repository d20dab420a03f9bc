import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { createTestContext, PUBLIC_URL, type TestContext } from './helpers/app.js';
import { formState, installPortal, openInstallPage, submitInstallForm } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';

let fake: FakeBitrix24;
let portal: FakePortal;
let ctx: TestContext;

const portalRows = () => ctx.db('portals').select();

describe('install page', () => {
  // A portal that has not installed the app yet.
  beforeEach(async () => {
    fake = await startFakeBitrix24();
    portal = await fake.addPortal();
    ctx = await createTestContext({ fake });
  });
  afterEach(async () => {
    await ctx.close();
    await fake.close();
  });

  it('verifies the frame, shows the settings form and keeps raw tokens out of the page', async () => {
    const tokens = fake.issueTokens(portal);
    const res = await openInstallPage(ctx, fake, portal, { tokens });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/name="provider"/);
    expect(res.text).toMatch(/name="api_key"/);
    expect(res.text).toMatch(/name="sender"/);
    expect(res.text).toContain('Connect your SMS gateway');
    // Only the portal itself may frame the page.
    expect(res.headers['content-security-policy']).toContain(`frame-ancestors http://${portal.domain}`);
    for (const secret of [tokens.accessToken, tokens.refreshToken, portal.applicationToken]) expect(res.text).not.toContain(secret);

    const rows = await portalRows();
    expect(rows).toHaveLength(1);
    expect(rows[0].member_id).toBe(portal.memberId);
    expect(rows[0].rest_endpoint).toBe(portal.endpoint);
    // Tokens are stored encrypted, never as they came.
    const stored = JSON.stringify(rows[0]);
    for (const secret of [tokens.accessToken, tokens.refreshToken, portal.applicationToken]) expect(stored).not.toContain(secret);
    expect((await ctx.deps.portals.tokens(rows[0].id))?.accessToken).toBe(tokens.accessToken);
  });

  it('speaks Russian when Bitrix24 opens it with LANG=ru', async () => {
    const res = await openInstallPage(ctx, fake, portal, { lang: 'ru' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Подключите SMS-шлюз');
  });

  it('registers the provider and binds lifecycle events on submit, then calls installFinish', async () => {
    const page = await openInstallPage(ctx, fake, portal);
    const done = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'smsru-key-123', sender: 'MyShop' });
    expect(done.status).toBe(200);
    expect(done.text).toContain('BX24.installFinish()');
    expect(done.text).toContain('//api.bitrix24.com/api/v1/');

    expect([...portal.senders.values()]).toEqual([
      { CODE: 'smsgw_myshop', TYPE: 'SMS', NAME: 'MyShop', HANDLER: expect.stringMatching(new RegExp(`^${PUBLIC_URL}/handler\\?key=[\\w-]{20,}$`)) },
    ]);
    expect(portal.events).toEqual([
      { event: 'ONAPPINSTALL', handler: `${PUBLIC_URL}/events` }, // where Bitrix24 first gives the application_token
      { event: 'ONAPPUNINSTALL', handler: `${PUBLIC_URL}/events` },
      { event: 'ONAPPUPDATE', handler: `${PUBLIC_URL}/events` },
    ]);
    const settings = await ctx.db('settings').first();
    expect(settings.gateway).toBe('smsru');
    expect(JSON.stringify(settings)).not.toContain('smsru-key-123');
    expect((await ctx.deps.settings.get(settings.portal_id))?.credentials).toEqual({ api_key: 'smsru-key-123' });
  });

  it('registers a default provider name when no sender name is given', async () => {
    await installPortal(ctx, fake, portal, { provider: 'smsru', api_key: 'k', sender: '' });
    expect(portal.senders.get('smsgw_default')?.NAME).toEqual({ ru: 'SMS-шлюз', en: 'SMS gateway' });
  });

  it('refuses a forged install whose token names another portal, and stores nothing', async () => {
    const other = await fake.addPortal();
    const res = await openInstallPage(ctx, fake, portal, { tokens: fake.issueTokens(other) });
    expect(res.status).toBe(401);
    expect(res.text).toContain('Bitrix24 did not confirm this installation');
    expect(res.text).toContain('another Bitrix24 portal');
    expect(await portalRows()).toHaveLength(0);
  });

  it('refuses a token issued to another application, or a DOMAIN that is not the portal\'s', async () => {
    const foreign = await openInstallPage(ctx, fake, portal, { tokens: fake.issueTokens(portal, 1, 'app.someone.else') });
    expect(foreign.status).toBe(401);
    const wrongDomain = await openInstallPage(ctx, fake, portal, { domain: 'evil.example.com' });
    expect(wrongDomain.status).toBe(401);
    const unknown = await openInstallPage(ctx, fake, portal, { tokens: { accessToken: 'made-up', refreshToken: 'made-up' } });
    expect(unknown.status).toBe(401);
    expect(await portalRows()).toHaveLength(0);
  });

  it('answers 503 and stores nothing when the OAuth server cannot be reached', async () => {
    const down = await createTestContext({ env: { B24_OAUTH_URL: 'http://127.0.0.1:9' } });
    try {
      const res = await openInstallPage(down, fake, portal);
      expect(res.status).toBe(503);
      expect(res.text).toContain('could not be reached');
      expect(Number((await down.db('portals').count({ n: '*' }))[0]!.n)).toBe(0);
    } finally {
      await down.close();
    }
  });

  it('answers 400 when opened without the Bitrix24 fields', async () => {
    const res = await openInstallPage(ctx, fake, portal, { memberId: '' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('must be opened from Bitrix24');
  });

  it('explains in plain words to a user who is not an administrator that only one can install, storing nothing', async () => {
    const res = await openInstallPage(ctx, fake, portal, { userId: 2 });
    expect(res.status).toBe(403);
    expect(res.text).toContain('Only a Bitrix24 administrator can install this app');
    expect(res.text).not.toContain('name="state"');
    expect(portal.senders.size).toBe(0);
    expect(await portalRows()).toHaveLength(0);
  });

  it('re-renders the form with a message next to each bad field (422) and registers nothing', async () => {
    const page = await openInstallPage(ctx, fake, portal);
    const state = formState(page.text);
    const res = await submitInstallForm(ctx, state, { provider: 'nosuch', api_key: ' ', sender: 'This name is far too long' });
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/id="provider-error">Choose a gateway/);
    expect(res.text).toMatch(/id="sender-error">Up to 11 Latin letters/);
    expect(res.text).toContain('value="This name is far too long"');
    const noKey = await submitInstallForm(ctx, state, { provider: 'smsru', api_key: ' ', sender: 'Shop' });
    expect(noKey.status).toBe(422);
    expect(noKey.text).toMatch(/id="api_key-error">Enter the API key/);
    const kannel = await submitInstallForm(ctx, state, { provider: 'kannel', kannel_url: 'ftp://x', kannel_username: '', sender: 'Shop' });
    expect(kannel.status).toBe(422);
    expect(kannel.text).toMatch(/id="kannel_url-error">http or https only/);
    expect(kannel.text).toMatch(/id="kannel_username-error">Enter the sendsms username/);
    expect(kannel.text).toMatch(/id="kannel_password-error">Enter the sendsms password/);
    expect(portal.senders.size).toBe(0);
    expect(await ctx.db('settings').select()).toHaveLength(0);
  });

  it('refuses a submission whose signed state was tampered with or has expired', async () => {
    const page = await openInstallPage(ctx, fake, portal);
    const state = formState(page.text);
    const tampered = await submitInstallForm(ctx, state.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')), { provider: 'smsru', api_key: 'k' });
    expect(tampered.status).toBe(401);

    let now = Date.now();
    const timed = await createTestContext({ fake, clock: () => now });
    try {
      const p2 = await openInstallPage(timed, fake, portal);
      now += 2 * 60 * 60 * 1000;
      const late = await submitInstallForm(timed, formState(p2.text), { provider: 'smsru', api_key: 'k' });
      expect(late.status).toBe(401);
      expect(late.text).toContain('This form has expired');
    } finally {
      await timed.close();
    }
    expect(portal.senders.size).toBe(0);
  });

  it('is idempotent: a reinstall and a second submit neither fail nor duplicate anything', async () => {
    await installPortal(ctx, fake, portal);
    const handler = portal.senders.get('smsgw_myshop')!.HANDLER;
    await installPortal(ctx, fake, portal);
    const page = await openInstallPage(ctx, fake, portal);
    const state = formState(page.text);
    expect(page.text).toContain('Saved (not shown)');
    // The key may be left empty on a second submit: the saved one is kept.
    expect((await submitInstallForm(ctx, state, { provider: 'smsru', api_key: '', sender: 'MyShop' })).status).toBe(200);
    expect((await submitInstallForm(ctx, state, { provider: 'smsru', api_key: 'k2', sender: 'MyShop' })).status).toBe(200);

    expect(await portalRows()).toHaveLength(1);
    expect([...portal.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(portal.senders.get('smsgw_myshop')!.HANDLER).toBe(handler);
    expect(portal.events).toHaveLength(3);
    expect(portal.calls.filter((c) => c.method === 'messageservice.sender.add').length).toBeGreaterThan(1);
  });

  it('falls back to delete and add on portals without messageservice.sender.update', async () => {
    const old = await fake.addPortal({ supportsSenderUpdate: false });
    await installPortal(ctx, fake, old);
    await installPortal(ctx, fake, old);
    expect([...old.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(old.calls.map((c) => c.method)).toContain('messageservice.sender.delete');
  });

  it('removes the old provider from Bitrix24 when the sender name changes', async () => {
    await installPortal(ctx, fake, portal);
    await installPortal(ctx, fake, portal, { provider: 'smsru', api_key: 'k', sender: 'NewName' });
    expect([...portal.senders.keys()]).toEqual(['smsgw_newname']);
    expect((await ctx.db('senders').select('code')).map((r) => r.code)).toEqual(['smsgw_newname']);
  });
});

describe('install form and the gateway', () => {
  // An installed portal whose SMS.ru account holds 77.25; SMS.ru refuses any other key.
  let t: InstalledPortal;
  beforeEach(async () => {
    t = await installedPortal({ smsru: { keys: { 'good-key': 77.25 } }, install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' } });
  });
  afterEach(() => t.close());

  it('re-renders the form with SMS.ru\'s reason when the key is wrong, and saves nothing', async () => {
    const { fake, ctx } = t;
    const other = await fake.addPortal();
    const page = await openInstallPage(ctx, fake, other);
    const res = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'wrong-key', sender: 'Shop' });
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/id="api_key-error">Неправильный api_id \(200\)/);
    expect(other.senders.size).toBe(0);
    const p = await ctx.deps.portals.findByMemberId(other.memberId);
    expect(await ctx.deps.settings.get(p!.id)).toBeUndefined();
  });

  it('shows the balance after a successful install', async () => {
    const { fake, fp, ctx } = t;
    const page = await openInstallPage(ctx, fake, fp);
    const res = await submitInstallForm(ctx, formState(page.text), { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Gateway balance: <b>77.25</b>');
  });
});
