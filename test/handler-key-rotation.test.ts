import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postHandler } from './helpers/sms.js';
import { buildDeps } from '../src/deps.js';
import { createApp } from '../src/web/app.js';
import { createLogger } from '../src/platform/logger.js';
import { HANDLER_KEY_GRACE_MS } from '../src/portals/portal-repo.js';

// The handler URL's key authenticates SMS without an auth block (automation rules): once it leaked (a proxy's access
// log), the operator rotates it, and Bitrix24's SMS keep arriving all the way through.

const PASSWORD = 'operator-secret-1';
let now = Date.UTC(2026, 11, 2, 9);
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;

beforeEach(async () => {
  now = Date.UTC(2026, 11, 2, 9);
  ({ fake, fp, ctx, close } = await installedPortal({ env: { ADMIN_PASSWORD: PASSWORD }, clock: () => now }));
});
afterEach(() => close());

async function console_() {
  const res = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
  const cookie = String(res.headers['set-cookie']);
  const page = await request(ctx.app).get('/admin').set('cookie', cookie);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  const portalId = (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;
  const flash = async (res: request.Response) =>
    /<div class="ok" role="status">([^<]*)</.exec((await request(ctx.app).get(String(res.headers.location)).set('cookie', cookie)).text)?.[1];
  return {
    page,
    rotate: async () => {
      const res = await request(ctx.app).post(`/admin/portals/${portalId}/rotate-key`).set('cookie', cookie).type('form').send({ csrf });
      if (res.status !== 303) throw new Error(`rotate answered ${res.status}: ${res.text}`);
      return flash(res);
    },
  };
}

const handlerPath = () => `/handler${new URL([...fp.senders.values()][0]!.HANDLER).search}`;
let n = 0;
/** An SMS as an automation rule sends it: no auth block, the key in the URL only. */
const authorless = (path: string) => postHandler(ctx, { auth: false, code: 'smsgw_myshop', id: (++n).toString(16).padStart(32, 'c') }, path);
/** An SMS from a CRM card: the auth block, and the key in the URL too. */
const withAuth = (path: string, app: TestContext['app'] = ctx.app) =>
  postHandler({ app }, { portal: fp, code: 'smsgw_myshop', id: (++n).toString(16).padStart(32, 'd') }, path);

describe('rotating the handler key', () => {
  it('registers the new handler URL, keeps the old key good for the grace period, then refuses it', async () => {
    const old = handlerPath();
    const c = await console_();
    expect(c.page.text).toContain('rotate handler key');

    expect(await c.rotate()).toBe(`${fp.domain}: new handler key, smsgw_myshop registered with it; the old key works 15 more minutes`);
    const fresh = handlerPath();
    expect(fresh).not.toBe(old); // Bitrix24 now calls the new URL
    for (const path of [fresh, old]) {
      expect((await authorless(path)).status).toBe(200);
      expect((await withAuth(path)).status).toBe(200);
    }

    now += HANDLER_KEY_GRACE_MS + 1;
    expect((await authorless(fresh)).status).toBe(200);
    expect((await withAuth(fresh)).status).toBe(200);
    const refused = await authorless(old);
    expect(refused.status).toBe(401);
    expect(refused.body.message).toBe('unknown handler key');
    expect((await withAuth(old)).body.message).toBe('the handler key does not belong to this portal');
  });

  it('keeps both keys good while Bitrix24 cannot be told, and a second rotation finishes the first one', async () => {
    const old = handlerPath();
    const c = await console_();
    fp.failNext.push({ status: 503, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'down' } }, ...Array(8).fill({ status: 503, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'down' } }));
    expect(await c.rotate()).toMatch(new RegExp(`^${fp.domain.replace(/\./g, '\\.')}: new handler key, but Bitrix24 could not be told \\(.+\\); both keys work until it is: rotate again$`));
    expect(handlerPath()).toBe(old); // Bitrix24 still has the old URL
    fp.failNext.length = 0;

    now += 24 * 3600_000; // a day later, the old key still works: Bitrix24 knows no other
    expect((await authorless(old)).status).toBe(200);

    expect(await (await console_()).rotate()).toBe(`${fp.domain}: new handler key, smsgw_myshop registered with it; the old key works 15 more minutes`);
    const fresh = handlerPath();
    expect(fresh).not.toBe(old);
    expect((await authorless(fresh)).status).toBe(200);
    expect((await authorless(old)).status).toBe(200);
    now += HANDLER_KEY_GRACE_MS + 1;
    expect((await authorless(old)).status).toBe(401);
  });

  it('another web process takes the new key at once, though it remembered the portal with the old one', async () => {
    const other = createApp(buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now }));
    expect((await withAuth(handlerPath(), other)).status).toBe(200); // it now remembers the portal
    await (await console_()).rotate();
    expect((await withAuth(handlerPath(), other)).status).toBe(200);
  });

  it('a registration under way when the key is rotated (a settings save, an ONAPPUPDATE) does not leave Bitrix24 with the old key', async () => {
    const portalId = (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;
    const c = await console_();
    fp.delayNext.push(300); // its sender.add reaches Bitrix24 after the rotation's own
    const slow = ctx.deps.providers.registerAll(portalId);
    await new Promise((r) => setTimeout(r, 50));
    expect(await c.rotate()).toBe(`${fp.domain}: new handler key, smsgw_myshop registered with it; the old key works 15 more minutes`);
    await slow;
    const registered = handlerPath();
    expect(new URL(registered, 'http://x').searchParams.get('key')).toBe(await ctx.deps.portals.handlerKey(portalId));
    now += HANDLER_KEY_GRACE_MS + 1;
    expect((await authorless(registered)).status).toBe(200);
  });

  it('a pending rotation ends its old key\'s time once any registration gives Bitrix24 the new URL', async () => {
    const old = handlerPath();
    const fail = { status: 503, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'down' } };
    fp.failNext.push(...Array(9).fill(fail));
    await (await console_()).rotate();
    fp.failNext.length = 0;
    await ctx.deps.providers.registerAll((await ctx.deps.portals.findByMemberId(fp.memberId))!.id); // a settings save, say
    expect(handlerPath()).not.toBe(old);
    expect((await authorless(old)).status).toBe(200);
    now += HANDLER_KEY_GRACE_MS + 1;
    expect((await authorless(old)).status).toBe(401);
  });

  it('an uninstall ends both keys', async () => {
    const old = handlerPath();
    await (await console_()).rotate();
    const fresh = handlerPath();
    await ctx.deps.portals.markUninstalled((await ctx.deps.portals.findByMemberId(fp.memberId))!.id, false, now);
    for (const path of [old, fresh]) expect((await authorless(path)).status).toBe(401);
  });
});
