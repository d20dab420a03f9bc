import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { installPortal } from './helpers/install.js';
import { messageRow, postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';

/**
 * Bitrix24 hands ONAPPUNINSTALL to its cloud event queue (b24restdocs events/index.md: "does not call your handlers in
 * real-time", slow handlers get "longer delays"), while the install page of a reinstall is a frame POST that reaches
 * the app at once. An administrator who uninstalls and installs the app again within that delay gets the uninstall
 * event after the reinstall, and its application_token matches the reinstalled portal's: a reinstall keeps the app's
 * b_rest_app row and so its token (core CRestUtil::getApplicationToken, CRestUtil::InstallApp).
 */
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, fp, ctx, portal, close } = await installedPortal());
});
afterEach(() => close());

/** The queued ONAPPUNINSTALL, as the queue finally posts it. */
const deliver = (queued: { body: string }) => request(ctx.app).post('/events').type('form').send(queued.body);

/** The administrator uninstalls (ONAPPUNINSTALL queued, not delivered yet) and installs the app again at once. */
async function uninstallAndReinstall(clean: boolean) {
  const queued = fake.uninstallApp(fp, { clean });
  fake.installApp(fp);
  await installPortal(ctx, fake, fp);
  expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
  return queued;
}

/** The reinstall's own ONAPPINSTALL, sent once BX24.installFinish() ran, with the installer's tokens. */
function installEvent() {
  const t = fake.issueTokens(fp, 1);
  return request(ctx.app).post('/events').type('form').send({
    event: 'ONAPPINSTALL', event_handler_id: '17', ts: String(Math.floor(Date.now() / 1000)),
    'data[VERSION]': '1', 'data[LANGUAGE_ID]': 'en',
    'auth[access_token]': t.accessToken, 'auth[refresh_token]': t.refreshToken, 'auth[expires_in]': '3600',
    'auth[domain]': fp.domain, 'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken,
    'auth[client_endpoint]': fp.endpoint, 'auth[server_endpoint]': `${fake.oauthUrl}/rest/`, 'auth[status]': 'L', 'auth[user_id]': '1',
  });
}

const settingsRows = () => ctx.db('settings').where({ portal_id: portal.id });

describe('an ONAPPUNINSTALL that arrives after the app was installed again', () => {
  it('changes nothing (nor erases anything, with CLEAN) while Bitrix24 says the app is installed: SMS go on', async () => {
    const queued = await uninstallAndReinstall(true);

    const res = await deliver(queued);
    expect(res.status).toBe(200);

    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await settingsRows()).toHaveLength(1);
    const id = await postSms(ctx, fp, { text: 'after reinstall' });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'queued' });
  });

  it('and the reinstall\'s ONAPPINSTALL behind it leave the portal taking the SMS Bitrix24 sends to the handler URL it has', async () => {
    const queued = await uninstallAndReinstall(false);
    await deliver(queued);

    expect((await installEvent()).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    await expect(postSms(ctx, fp, { text: 'after reinstall' })).resolves.toBeTypeOf('string');
  });

  it('is recognised with a refreshed token when the stored access token expired meanwhile', async () => {
    const queued = await uninstallAndReinstall(true);
    const before = await ctx.deps.portals.tokens(portal.id);
    fake.expireAccessTokens(fp);

    expect((await deliver(queued)).status).toBe(200);

    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect(await settingsRows()).toHaveLength(1);
    expect((await ctx.deps.portals.tokens(portal.id))?.accessToken).not.toBe(before?.accessToken);
  });

  it('is honoured when Bitrix24 gives no answer to the question (one try: the uninstall must take effect)', async () => {
    const queued = await uninstallAndReinstall(true);
    fp.failNext.push({ status: 503, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' } });

    expect((await deliver(queued)).status).toBe(200);

    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('uninstalled');
    expect(await settingsRows()).toHaveLength(0);
  });

  it('honoured while the reinstall is not finished, still leaves the portal that ONAPPINSTALL brings back registered with its current handler key at once', async () => {
    const queued = await uninstallAndReinstall(false);
    fp.installed = false; // the install page is open, BX24.installFinish() not run yet: app.info says INSTALLED false
    expect((await deliver(queued)).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('uninstalled');

    fp.installed = true;
    expect((await installEvent()).status).toBe(200);
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    // The event that brought it back registered every sender again with the current handler key (the uninstall
    // rotated the one Bitrix24's providers had): SMS are taken at once, not after the next hourly provider check.
    const id = await postSms(ctx, fp, { text: 'right after the event' });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'queued' });
  });
});

describe('an ONAPPUNINSTALL of an app that is uninstalled', () => {
  it('uninstalls the portal, and with CLEAN erases its settings, though the portal still holds tokens', async () => {
    const queued = fake.uninstallApp(fp, { clean: true });

    expect((await deliver(queued)).status).toBe(200);

    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('uninstalled');
    expect(await settingsRows()).toHaveLength(0);
    expect(await ctx.deps.portals.tokens(portal.id)).toBeUndefined();
  });
});
