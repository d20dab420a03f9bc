import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { launchBrowser, postFrame, shot, stubBx24 } from './helpers/browser.js';
import { requireKannel, startKannel, type Kannel } from './helpers/kannel.js';
import { createListeningContext, type ListeningContext } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

requireKannel();
const PASSWORD = 'console-password-42';

let fake: FakeBitrix24;
let fp: FakePortal;
let kannel: Kannel;
let ctx: ListeningContext;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  [kannel, fake, browser] = await Promise.all([startKannel(), startFakeBitrix24(), launchBrowser()]);
  fp = await fake.addPortal();
  ctx = await createListeningContext({ fake, env: { ADMIN_PASSWORD: PASSWORD, ALLOW_PRIVATE_GATEWAYS: '1' } });
  ctx.deps.worker.start();
  ctx.deps.reporter.start();
  page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  await stubBx24(page);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await ctx?.close();
  await fake?.close();
  await kannel?.stop();
});

/** What Bitrix24 posts into the app's frames for the administrator (user 1). */
function frame(path: string) {
  const t = fake.issueTokens(fp, 1);
  const query = new URLSearchParams({ DOMAIN: fp.domain, PROTOCOL: '0', LANG: 'en', APP_SID: 'sid1' });
  return postFrame(page, `${ctx.publicUrl}${path}?${query}`, {
    AUTH_ID: t.accessToken, AUTH_EXPIRES: '3600', REFRESH_ID: t.refreshToken, member_id: fp.memberId,
    status: 'L', APPLICATION_TOKEN: fp.applicationToken, PLACEMENT: 'DEFAULT', PLACEMENT_OPTIONS: '{}',
  });
}

describe('in a real browser', () => {
  it('installs: the form is filled and submitted, the provider is registered and BX24.installFinish() is called', async () => {
    await frame('/install');
    await page.selectOption('#provider', 'kannel');
    expect(await page.isVisible('#kannel_url')).toBe(true);
    expect(await page.isVisible('#api_key')).toBe(false);
    await page.fill('#kannel_url', kannel.url);
    await page.fill('#kannel_username', kannel.username);
    await page.fill('#kannel_password', kannel.password);
    await page.fill('#sender', 'MyShop');
    await shot(page, 'install-form');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.waitForFunction(() => (window as unknown as { __bx24?: string[] }).__bx24?.includes('installFinish'));
    expect(await page.textContent('h1')).toBe('The SMS gateway is connected');
    expect(await page.evaluate(() => (window as unknown as { __bx24: string[] }).__bx24)).toEqual(['init', 'installFinish']);
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    await shot(page, 'install-done');
    fp.installed = true; // Bitrix24 marks the app installed after installFinish()
  });

  it('settings: adds a second sender and watches a test SMS turn delivered', async () => {
    await frame('/');
    expect(await page.textContent('h1')).toBe('SMS gateway settings');
    await page.fill('#sender_name', 'Promo');
    await Promise.all([page.waitForNavigation(), page.click('text=Add sender')]);
    expect(await page.textContent('.ok')).toContain('Sender added');
    expect([...fp.senders.keys()].sort()).toEqual(['smsgw_myshop', 'smsgw_promo']);

    await page.fill('#phone', '+7 999 123-45-67');
    await page.fill('#text', 'Hello from the browser test');
    await page.click('text=Send test SMS');
    await page.waitForSelector('#test-status[data-state="delivered"]', { timeout: 30_000 });
    expect(await page.textContent('#test-status')).toBe('delivered');
    await Promise.all([page.waitForNavigation(), page.click('text=Filter')]);
    await eventually(async () => ((await page.textContent('#log')) ?? '').includes('delivered'), 'the log to show the test SMS');
    expect(await page.textContent('#log tbody')).toContain('+•••••••4567');
    await shot(page, 'settings');
  });

  it('console: signs in and shows the chart', async () => {
    await page.goto(`${ctx.publicUrl}/admin`);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(await page.textContent('h1')).toBe('Operator console');
    expect(await page.isVisible('#hourly-chart')).toBe(true);
    expect(await page.locator('#hourly-chart rect[fill="#7bd500"]').count()).toBeGreaterThan(1); // legend + the test SMS's hour
    expect(await page.textContent('body')).toContain(fp.domain);
    await shot(page, 'console');
  });
});
