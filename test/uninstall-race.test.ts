import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import type { TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';

/**
 * An uninstall that lands while a token refresh is under way (a report, a provider check met an expired token):
 * Bitrix24 revokes the tokens as it sends ONAPPUNINSTALL, and the refresh ends after the uninstall was stored.
 */
let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let now = Date.UTC(2026, 11, 2, 12);
beforeEach(async () => {
  now = Date.UTC(2026, 11, 2, 12);
  ({ fake, fp, ctx, smsru, portal, close } = await installedPortal({
    clock: () => now, random: () => 0.5, smsru: { keys: { 'good-key': 100 } }, install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' },
  }));
});
afterEach(() => close());

/** Starts a REST call that must refresh the portal's token, and resolves once the refresh is held at the OAuth server. */
async function callHeldInRefresh() {
  fake.expireAccessTokens(fp);
  const release = fake.holdRefreshes();
  const before = fake.refreshesReceived;
  const call = ctx.deps.rest.call(portal.id, 'messageservice.sender.list').then(() => undefined, (err: unknown) => err);
  for (let i = 0; i < 500 && fake.refreshesReceived === before; i++) await new Promise((r) => setTimeout(r, 10));
  expect(fake.refreshesReceived).toBe(before + 1);
  return { release, call };
}

describe('an uninstall while a token refresh is under way', () => {
  it('the refresh refused (tokens revoked) leaves the portal uninstalled, not inactive: its queued SMS are never sent', async () => {
    smsru.setMode('http503');
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'queued' }); // waiting to be tried again

    const { release, call } = await callHeldInRefresh();
    fake.revokeRefreshTokens(fp);
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    release();
    expect(await call).toMatchObject({ code: 'invalid_grant' });
    expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('uninstalled');

    smsru.setMode('ok');
    now += 60_000;
    await ctx.deps.worker.runOnce();
    expect(smsru.messages.size).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed' });
  });

  it('the refresh answered keeps no token of the uninstalled portal\'s', async () => {
    const { release, call } = await callHeldInRefresh();
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    release();
    expect(await call).toBeInstanceOf(Error); // nothing to call Bitrix24 with
    const row = await ctx.db('portals').where({ id: portal.id }).first();
    expect(row).toMatchObject({ status: 'uninstalled', access_token_enc: null, refresh_token_enc: null });
  });

  it('an uninstall and a reinstall while a refresh of the old tokens is under way: the reinstalled portal keeps its own tokens and stays active', async () => {
    const { release, call } = await callHeldInRefresh();
    fake.revokeRefreshTokens(fp);
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    const fresh = fake.issueTokens(fp, 1); // the administrator installs the app again at once
    await ctx.deps.portals.upsertInstalled({
      memberId: fp.memberId, domain: fp.domain, restEndpoint: fp.endpoint,
      tokens: { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken, expiresAt: now + 3_600_000 }, now,
    });
    release();
    expect(await call).toMatchObject({ code: 'invalid_grant' });
    expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('active');
    expect(await ctx.deps.portals.tokens(portal.id)).toMatchObject({ accessToken: fresh.accessToken, refreshToken: fresh.refreshToken });
  });

  it('a refresh that succeeds after an uninstall and a reinstall does not replace the reinstalled portal\'s tokens', async () => {
    const { release, call } = await callHeldInRefresh();
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    const fresh = fake.issueTokens(fp, 1);
    await ctx.deps.portals.upsertInstalled({
      memberId: fp.memberId, domain: fp.domain, restEndpoint: fp.endpoint,
      tokens: { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken, expiresAt: now + 3_600_000 }, now,
    });
    release();
    expect(await call).toMatchObject({ code: 'REFRESH_SUPERSEDED' });
    expect(await ctx.deps.portals.tokens(portal.id)).toMatchObject({ accessToken: fresh.accessToken, refreshToken: fresh.refreshToken });
    // The next call goes out with them.
    expect(await ctx.deps.rest.call(portal.id, 'messageservice.sender.list')).toBeDefined();
  });
});

describe('an uninstall and a reinstall while a REST call with the old tokens is under way', () => {
  it('the old call\'s terminal answer does not end the reinstalled portal', async () => {
    fp.delayNext.push(300);
    fp.failNext.push({ status: 403, body: { error: 'APPLICATION_NOT_FOUND', error_description: 'Application not found' } });
    const call = ctx.deps.rest.call(portal.id, 'messageservice.sender.list').then(() => undefined, (err: unknown) => err);
    // The request reached Bitrix24 with the old token and waits there.
    for (let i = 0; i < 500 && fp.delayNext.length > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(fp.delayNext).toHaveLength(0);
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    const fresh = fake.issueTokens(fp, 1);
    await ctx.deps.portals.upsertInstalled({
      memberId: fp.memberId, domain: fp.domain, restEndpoint: fp.endpoint,
      tokens: { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken, expiresAt: now + 3_600_000 }, now,
    });
    expect(await call).toBeUndefined(); // asked again with the reinstalled portal's token
    expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('active');
  });

  it('the same answer for the tokens still stored ends the portal', async () => {
    fp.failNext.push({ status: 403, body: { error: 'APPLICATION_NOT_FOUND', error_description: 'Application not found' } });
    expect(await ctx.deps.rest.call(portal.id, 'messageservice.sender.list').then(() => undefined, (err: unknown) => err)).toMatchObject({ code: 'APPLICATION_NOT_FOUND' });
    expect((await ctx.deps.portals.findById(portal.id))!).toMatchObject({ status: 'inactive', inactiveReason: expect.stringContaining('APPLICATION_NOT_FOUND') });
  });
});
