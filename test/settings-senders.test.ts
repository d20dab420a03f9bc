import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { installPortal, openAppPage, openInstallPage, stateFor } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { eventually } from './helpers/wait.js';

/** Sender names, gateway switches and saves that meet an uninstall: what the administrator and the CRM see. */
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function setup(install: Record<string, string> = { provider: 'smsru', api_key: 'k', sender: 'MyShop' }, env: Record<string, string> = {}) {
  const ip = await installedPortal({ install, env });
  ({ fake, fp, ctx } = ip);
  close = ip.close;
  return ip;
}

const post = (path: string, fields: Record<string, string>) => request(ctx.app).post(path).type('form').send(fields);

/** An event as Bitrix24 posts it: form-urlencoded, event / data[...] / auth[...]. */
function postEvent(event: string, data: Record<string, string>) {
  const body: Record<string, string> = { event, event_handler_id: '17', ts: String(Math.floor(Date.now() / 1000)) };
  for (const [k, v] of Object.entries(data)) body[`data[${k}]`] = v;
  Object.assign(body, { 'auth[domain]': fp.domain, 'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken });
  return request(ctx.app).post('/events').type('form').send(body);
}

/** A smsbox whose sendsms answers as Kannel does to the credential check's probe, each answer held while `hold` is on. */
async function heldSmsbox() {
  let hold = false;
  const waiting: Array<() => void> = [];
  const srv = http.createServer((_req, res) => {
    const answer = () => {
      res.statusCode = 400;
      res.end('Invalid');
    };
    if (hold) waiting.push(answer);
    else answer();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    hold: () => void (hold = true),
    release: () => {
      hold = false;
      for (const w of waiting.splice(0)) w();
    },
    get waiting() {
      return waiting.length;
    },
    close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))),
  };
}

describe('sender names', () => {
  it('a name that would make the same provider as another (MYSHOP beside MyShop, "A&B" beside "A B") is refused with a clear 422; nothing is renamed', async () => {
    const { portal } = await setup();
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/senders/add');
    expect((await post('/app/senders/add', { state, sender_name: 'A B' })).status).toBe(200);
    for (const [name, other] of [['MYSHOP', 'MyShop'], ['A&B', 'A B']]) {
      const res = await post('/app/senders/add', { state, sender_name: name! });
      expect(res.status).toBe(422);
      expect(res.text).toContain(`Too close to the sender &quot;${other}&quot;`);
    }
    expect((await ctx.deps.settings.senders(portal.id)).map((s) => s.name)).toEqual(['MyShop', 'A B']);
    expect([...fp.senders.values()].map((s) => s.NAME)).toEqual(['MyShop', 'A B']);
    // The same name again is no clash: it stays one sender.
    expect((await post('/app/senders/add', { state, sender_name: 'A B' })).status).toBe(200);
    expect(await ctx.deps.settings.senders(portal.id)).toHaveLength(2);
  });

  it('a reinstall after an uninstall without CLEAN keeps the senders the settings page added (the form shows only the first)', async () => {
    const { portal } = await setup();
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/senders/add');
    expect((await post('/app/senders/add', { state, sender_name: 'Promo' })).status).toBe(200);
    fake.uninstallApp(fp); // Bitrix24 deletes the app's providers with it
    expect((await postEvent('ONAPPUNINSTALL', { CLEAN: '0' })).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('uninstalled');
    fake.installApp(fp);
    await installPortal(ctx, fake, fp, { provider: 'smsru', api_key: '', sender: 'MyShop' });
    expect((await ctx.deps.settings.senders(portal.id)).map((s) => s.name)).toEqual(['MyShop', 'Promo']);
    expect([...fp.senders.values()].map((s) => s.NAME).sort()).toEqual(['MyShop', 'Promo']);
  });

  it('a reinstall with another name replaces the first sender only, which stays the one the form shows', async () => {
    const { portal } = await setup();
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/senders/add');
    expect((await post('/app/senders/add', { state, sender_name: 'Promo' })).status).toBe(200);
    await installPortal(ctx, fake, fp, { provider: 'smsru', api_key: '', sender: 'NewShop' });
    expect((await ctx.deps.settings.senders(portal.id)).map((s) => s.name)).toEqual(['NewShop', 'Promo']);
    expect([...fp.senders.values()].map((s) => s.NAME).sort()).toEqual(['NewShop', 'Promo']);
    // The next install page shows the renamed sender, and submitting it as is changes nothing.
    expect((await openInstallPage(ctx, fake, fp)).text).toMatch(/name="sender"[^>]*value="NewShop"/);
    await installPortal(ctx, fake, fp, { provider: 'smsru', api_key: '', sender: 'NewShop' });
    expect((await ctx.deps.settings.senders(portal.id)).map((s) => s.name)).toEqual(['NewShop', 'Promo']);
    expect([...fp.senders.values()].map((s) => s.NAME).sort()).toEqual(['NewShop', 'Promo']);
  });
});

describe('switching to the sandbox', () => {
  it('when Bitrix24 refuses the providers\' new names, the page says so, and the provider check renames them later', async () => {
    const { portal } = await setup();
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    fp.failNext.push({ status: 400, body: { error: 'ERROR_SENDER_ADD_FAILURE', error_description: 'temporary failure' } });
    const res = await post('/app/gateway', { state, provider: 'sandbox' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('Saved.');
    expect(res.text).toMatch(/role="alert">[^<]*ERROR_SENDER_ADD_FAILURE/);
    expect(fp.failNext).toHaveLength(0); // the rename was tried, and refused
    expect((await ctx.deps.settings.get(portal.id))?.gateway).toBe('sandbox');
    expect(JSON.stringify(fp.senders.get('smsgw_myshop')?.NAME)).not.toMatch(/\(/);

    await ctx.deps.providerCheck.runOnce();
    expect(JSON.stringify(fp.senders.get('smsgw_myshop')?.NAME)).toMatch(/MyShop \(/); // "MyShop (sandbox: nothing is sent)"
    // Once renamed, the check leaves it alone.
    const calls = fp.calls.length;
    await ctx.deps.providerCheck.runOnce();
    expect(fp.calls.slice(calls).map((c) => c.method)).not.toContain('messageservice.sender.add');
  });
});

describe('a gateway save racing an uninstall', () => {
  it('a save whose credential check is under way when ONAPPUNINSTALL CLEAN=1 arrives does not bring the erased secrets back', async () => {
    const smsbox = await heldSmsbox();
    const ip = await setup({ provider: 'kannel', kannel_url: smsbox.url, kannel_username: 'shop', kannel_password: 'old-secret', sender: 'MyShop' }, { ALLOW_PRIVATE_GATEWAYS: '1' });
    close = async () => (await ip.close(), await smsbox.close());
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    smsbox.hold();
    const saving = post('/app/gateway', { state, provider: 'kannel', kannel_url: smsbox.url, kannel_username: 'shop', kannel_password: 'new-secret' }).then((r) => r);
    await eventually(() => smsbox.waiting === 1, 'the credential check to reach the smsbox', 5000);
    fake.uninstallApp(fp, { clean: true });
    expect((await postEvent('ONAPPUNINSTALL', { CLEAN: '1' })).status).toBe(200);
    smsbox.release();
    expect((await saving).status).toBe(401);
    expect((await ctx.deps.portals.findById(ip.portal.id))?.status).toBe('uninstalled');
    expect(await ctx.db('settings').where({ portal_id: ip.portal.id })).toHaveLength(0);
  });
});

describe('the default country', () => {
  it('one the page does not offer (a hand-made post) is refused with a clear 422 and changes nothing; one it offers is saved', async () => {
    const { portal } = await setup();
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const before = (await ctx.deps.portals.findById(portal.id))!.defaultCountry;
    const res = await post('/app/gateway', { state, provider: 'smsru', default_country: 'ZZ' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Choose a country from the list');
    expect((await ctx.deps.portals.findById(portal.id))!.defaultCountry).toBe(before);
    expect((await post('/app/gateway', { state, provider: 'smsru', default_country: 'KZ' })).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))!.defaultCountry).toBe('KZ');
  });
});
