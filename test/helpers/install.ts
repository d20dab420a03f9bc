import request from 'supertest';
import type { FakeBitrix24, FakePortal } from '../fakes/bitrix24.js';
import type { TestContext } from './app.js';

/** Opens the install page as Bitrix24 does: a POST into a frame with the auth fields. */
export function openInstallPage(
  ctx: TestContext,
  fake: FakeBitrix24,
  portal: FakePortal,
  o: {
    userId?: number; lang?: string; tokens?: { accessToken: string; refreshToken: string }; memberId?: string; domain?: string; path?: string;
    /** null: no APPLICATION_TOKEN field, as Bitrix24's own frame form has none (core app.layout). */
    applicationToken?: string | null;
  } = {},
) {
  const t = o.tokens ?? fake.issueTokens(portal, o.userId ?? 1);
  const query = new URLSearchParams({ DOMAIN: o.domain ?? portal.domain, PROTOCOL: '0', LANG: o.lang ?? 'en', APP_SID: 'a1b2c3' });
  return request(ctx.app)
    .post(`${o.path ?? '/install'}?${query}`)
    .type('form')
    .send({
      AUTH_ID: t.accessToken,
      AUTH_EXPIRES: '3600',
      REFRESH_ID: t.refreshToken,
      SERVER_ENDPOINT: `${fake.oauthUrl}/rest/`,
      member_id: o.memberId ?? portal.memberId,
      status: 'L',
      ...(o.applicationToken === null ? {} : { APPLICATION_TOKEN: o.applicationToken ?? portal.applicationToken }),
      PLACEMENT: 'DEFAULT',
      PLACEMENT_OPTIONS: '{}',
    });
}

/** Opens the app's own page (`POST /`) as Bitrix24 does, for an installed app. */
export const openAppPage = (ctx: TestContext, fake: FakeBitrix24, portal: FakePortal, o: Parameters<typeof openInstallPage>[3] = {}) =>
  openInstallPage(ctx, fake, portal, { ...o, path: '/' });

export const formState = (html: string) => /name="state" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** The form token of the page's form that posts to `action` (each form carries its own). */
export function stateFor(html: string, action: string): string {
  const at = html.indexOf(`action="${action}"`);
  if (at < 0) return '';
  return /name="state" value="([^"]*)"/.exec(html.slice(at))?.[1] ?? '';
}

/** The token the test-SMS form gives its status polling. */
export const statusState = (html: string) => /data-status-state="([^"]*)"/.exec(html)?.[1] ?? '';

export function submitInstallForm(ctx: TestContext, state: string, fields: Record<string, string>) {
  return request(ctx.app).post('/install/save').type('form').send({ state, ...fields });
}

/** The whole install as an administrator: open the page, submit the form. */
export async function installPortal(
  ctx: TestContext,
  fake: FakeBitrix24,
  portal: FakePortal,
  fields: Record<string, string> = { provider: 'smsru', api_key: 'smsru-key-123', sender: 'MyShop' },
) {
  const page = await openInstallPage(ctx, fake, portal);
  if (page.status !== 200) throw new Error(`install page answered ${page.status}: ${page.text}`);
  const done = await submitInstallForm(ctx, formState(page.text), fields);
  if (done.status !== 200) throw new Error(`install submit answered ${done.status}: ${done.text}`);
  portal.installed = true; // what BX24.installFinish() does in Bitrix24
  return (await ctx.deps.portals.findByMemberId(portal.memberId))!;
}
