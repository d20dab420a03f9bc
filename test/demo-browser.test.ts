import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createLogger } from '../src/platform/logger.js';
import { startDemo, type Demo } from '../src/demo/demo.js';
import { createTestDb } from './helpers/db.js';
import { ARTIFACTS, launchBrowser, shot } from './helpers/browser.js';

type TestDb = Awaited<ReturnType<typeof createTestDb>>;

let testDb: TestDb;
let demo: Demo;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Every URL the browser asked for, in every frame: the demo must not reach beyond 127.0.0.1. */
const requested: string[] = [];

beforeAll(async () => {
  testDb = await createTestDb();
  [demo, browser] = await Promise.all([
    startDemo({ database: testDb, sandboxDelay: '300ms', log: createLogger('silent') }),
    launchBrowser(),
  ]);
  context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  page = await context.newPage();
  page.on('request', (r) => void requested.push(r.url()));
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await demo?.close();
  await testDb?.drop();
});

const timeline = (status: string) => `#timeline li[data-status="${status}"]`;

describe('the demo in a real browser', () => {
  it('starts with the app installed on the sandbox, and installs it again through the frame as Bitrix24 does', async () => {
    await page.goto(demo.url);
    expect(await page.textContent('h1')).toBe('Demo: SMS from Bitrix24');
    expect(await page.getAttribute('#install-state', 'data-installed')).toBe('true');
    expect(await page.locator('#sms-sender option').allTextContents()).toEqual(['DemoShop (sandbox: nothing is really sent)']); // the provider's name says so in Bitrix24 too

    await page.click('#install-btn');
    const frame = page.frameLocator('#app-frame');
    await frame.locator('h1', { hasText: 'Connect your SMS gateway' }).waitFor();
    expect(await frame.locator('#provider').inputValue()).toBe('sandbox');
    expect(await frame.locator('#sandbox-hint').isVisible()).toBe(true);
    await frame.locator('#sender').fill('Clinic');
    await shot(page, 'demo-install-form');
    await frame.locator('button[type=submit]').click();
    await frame.locator('h1', { hasText: 'The SMS gateway is connected' }).waitFor();
    // The install page's BX24.installFinish() reached the portal around the frame.
    await page.waitForSelector('#install-state:text("BX24.installFinish()")');
    await page.waitForFunction(() => [...document.querySelectorAll('#sms-sender option')].map((o) => o.textContent).join() === 'Clinic (sandbox: nothing is really sent)');
    expect([...demo.portal.senders.keys()]).toEqual(['smsgw_clinic']);
    await shot(page, 'demo-installed');
  });

  it('sends from the CRM card and shows delivered, as the portal received it', async () => {
    await page.fill('#sms-to', '+7 999 123-45-67');
    await page.fill('#sms-text', 'Hello! Your order is ready for pickup.');
    await page.click('#sms-send');
    await page.waitForSelector(timeline('delivered'), { timeout: 30_000 });
    expect(await page.textContent(`${timeline('delivered')} .sms-status`)).toBe('delivered');
    const list = (await (await page.request.get(`${new URL(demo.url).origin}/demo/messages`)).json()) as Array<{ to: string; status: string }>;
    expect(list).toEqual([expect.objectContaining({ to: '+7 999 123-45-67', status: 'delivered' })]);
    await page.locator('#card').screenshot({ path: `${ARTIFACTS}demo-card.png` });
  });

  it('shows "not delivered" for a number ending in 0', async () => {
    await page.fill('#sms-to', '+7 999 123-45-60');
    await page.click('#sms-send');
    await page.waitForSelector(timeline('undelivered'), { timeout: 30_000 });
    expect(await page.textContent(`${timeline('undelivered')} .sms-status`)).toBe('not delivered');
    await shot(page, 'demo-card-undelivered');
  });

  it('runs the automation rule for 100 contacts: all 100 end with a final status, counted by status', async () => {
    await page.click('#rule-run');
    await page.waitForSelector('#rule-final[data-final="100"]', { timeout: 60_000 });
    const count = (s: string) => page.textContent(`[data-count="${s}"]`);
    expect([await count('delivered'), await count('undelivered'), await count('failed'), await count('sent')]).toEqual(['90', '9', '1', '0']);
    expect(await page.textContent('#rule-final')).toBe('100 of 100 with a final status');
    await page.locator('#rule').screenshot({ path: `${ARTIFACTS}demo-rule.png` });
  });

  it('opens the app\'s settings page in the frame, which says the messages were not really sent', async () => {
    await page.click('#settings-link');
    const frame = page.frameLocator('#app-frame');
    await frame.locator('h1', { hasText: 'SMS gateway settings' }).waitFor();
    expect(await frame.locator('#sandbox-notice').textContent()).toContain('NOT really sent');
    expect(await frame.locator('.sandbox-tag').count()).toBeGreaterThan(0);
    await page.locator('#frame-box').screenshot({ path: `${ARTIFACTS}demo-settings.png` });
  });

  it('signs in to the operator console with the password the page shows', async () => {
    const password = (await page.textContent('#console-password'))!;
    const consolePage = await context.newPage();
    consolePage.on('request', (r) => void requested.push(r.url()));
    await consolePage.goto((await page.getAttribute('#console-link', 'href'))!);
    await consolePage.fill('#password', password);
    await Promise.all([consolePage.waitForNavigation(), consolePage.click('button[type=submit]')]);
    expect(await consolePage.textContent('h1')).toBe('Operator console');
    await shot(consolePage, 'demo-console');
    await consolePage.close();
  });

  it('asked for nothing beyond 127.0.0.1', () => {
    const outside = requested.filter((u) => !/^http:\/\/127\.0\.0\.1:\d+\//.test(u) && !/^(about|data):/.test(u));
    expect(outside).toEqual([]);
    expect(requested.some((u) => u.endsWith('/bx24.js'))).toBe(true);
  });

  it('speaks Russian to a Russian browser', async () => {
    const ru = await browser.newContext({ locale: 'ru-RU' });
    const p = await ru.newPage();
    await p.goto(demo.url);
    expect(await p.textContent('h1')).toBe('Демо: SMS из Битрикс24');
    expect(await p.textContent('#sms-send')).toBe('Отправить SMS');
    await ru.close();
  });
});
