import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDeps } from '../src/deps.js';
import { createLogger } from '../src/platform/logger.js';
import { createGatewayDispatcher, createPortalDispatcher, GATEWAY_ADDRESS_FORBIDDEN } from '../src/platform/address-guard.js';
import { httpRequest } from '../src/platform/http.js';
import { B24Error } from '../src/bitrix/errors.js';
import { PORTAL_ADDRESS_FORBIDDEN } from '../src/bitrix/rest-client.js';
import { startFakeBitrix24 } from './fakes/bitrix24.js';
import { createTestContext, TEST_SECRET_KEY } from './helpers/app.js';
import { installPortal, openInstallPage } from './helpers/install.js';

// A portal's domain is its owner's choice (an on-premise Bitrix24 names itself and says what the name resolves to):
// without ALLOW_PRIVATE_PORTALS, no REST call of ours goes into the network this service runs in.

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(env: Record<string, string>) {
  const fake = await startFakeBitrix24();
  const ctx = await createTestContext({ fake, env });
  cleanups.push(() => fake.close(), () => ctx.close());
  return { fake, ctx, fp: await fake.addPortal() };
}

describe('a portal at a loopback or private address', () => {
  it('is refused at install with a page that says why, and nothing is called there or stored', async () => {
    const { fake, ctx, fp } = await setup({ ALLOW_PRIVATE_PORTALS: '0' });
    const page = await openInstallPage(ctx, fake, fp);
    expect(page.status).toBe(403);
    expect(page.text).toContain(`Your Bitrix24 (${fp.domain}) is at a loopback, private or link-local network address`);
    expect(fp.calls).toEqual([]); // not even `profile`: the connection was never opened
    expect(await ctx.db('portals').count({ n: '*' })).toEqual([{ n: 0 }]);

    // In Russian too.
    const ru = await openInstallPage(ctx, fake, fp, { lang: 'ru' });
    expect(ru.status).toBe(403);
    expect(ru.text).toContain(`Ваш Битрикс24 (${fp.domain}) находится по адресу локальной, частной или link-local сети`);
  });

  it('installs with ALLOW_PRIVATE_PORTALS=1; a process without it refuses every call to that portal, permanently, and leaves the portal as it was', async () => {
    const { fake, ctx, fp } = await setup({ ALLOW_PRIVATE_PORTALS: '1' });
    await installPortal(ctx, fake, fp, { provider: 'sandbox', sender: 'Shop' });
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    const before = fp.calls.length;

    const strict = buildDeps({ config: { ...ctx.config, ALLOW_PRIVATE_PORTALS: false }, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, restRetryBackoffMs: () => 50 });
    const err = await strict.rest.call(portal.id, 'profile').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(B24Error);
    expect(err).toMatchObject({ code: PORTAL_ADDRESS_FORBIDDEN, kind: 'permanent' });
    expect((err as B24Error).description).toContain(`address ${new URL(portal.restEndpoint).hostname} is not a public one`);
    expect(fp.calls.length).toBe(before);
    expect((await ctx.deps.portals.findById(portal.id))!.status).toBe('active');

    // The allowing process still reaches it.
    await expect(ctx.deps.rest.call(portal.id, 'profile')).resolves.toMatchObject({ ADMIN: true });
  });
});

describe('the portal dispatcher', () => {
  it('refuses a name when any of its addresses is not public', async () => {
    const lookup = async () => ['93.184.216.34', '10.1.2.3'];
    const guard = createPortalDispatcher({ allowPrivate: false, publicUrl: 'https://sms.example.test', lookup });
    cleanups.push(() => guard.close());
    const err = await httpRequest('https://portal.example.com/rest/profile', { method: 'POST', body: '{}' }, { dispatcher: guard.forPortal(7), timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: GATEWAY_ADDRESS_FORBIDDEN, message: 'portal address portal.example.com is not allowed' });
  });

  it('tries every checked address in turn: a name whose first address does not answer still reaches the portal', async () => {
    const server = http.createServer((_req, res) => res.end('{"result":true}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as AddressInfo).port;
    // ::1 first (nothing listens there on this port, or the host has no IPv6), then the address that answers.
    const lookup = async (host: string) => (host === 'portal.example.com' ? ['::1', '127.0.0.1'] : []);
    const opts = { allowPrivate: true, publicUrl: 'https://sms.example.test', lookup };
    const portal = createPortalDispatcher(opts);
    cleanups.push(() => portal.close());
    const res = await httpRequest(`http://portal.example.com:${port}/rest/profile`, { method: 'POST', body: '{}' }, { dispatcher: portal.forPortal(7), timeoutMs: 3000 });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ result: true });

    // What a gateway's dispatcher does with the same name: it connects to the first address only.
    const gateway = createGatewayDispatcher(opts);
    cleanups.push(() => gateway.close());
    await expect(httpRequest(`http://portal.example.com:${port}/rest/profile`, { method: 'POST', body: '{}' }, { dispatcher: gateway.forPortal(7), timeoutMs: 3000 })).rejects.toThrow();
  });
});
