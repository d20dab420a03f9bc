import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;

/** Debian's Chromium, headless, with the flags a closed network needs (../shared/reference/browser.md). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error('Chromium is not installed: apt-get install -y chromium (see .ci/run)');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Bitrix24's //api.bitrix24.com/api/v1/ cannot be reached here: a stub records what the page calls
 * (BX24.init, BX24.installFinish) in window.__bx24.
 */
export async function stubBx24(page: Page) {
  await page.route('**://api.bitrix24.com/**', (route) =>
    route.fulfill({
      contentType: 'application/javascript',
      body: `window.__bx24 = []; window.BX24 = {
        init: function (cb) { window.__bx24.push('init'); if (cb) cb(); },
        installFinish: function () { window.__bx24.push('installFinish'); },
        fitWindow: function () {}, resizeWindow: function () {}
      };`,
    }),
  );
}

/** Opens a frame page the way Bitrix24 does: a form POST with the auth fields in the body. */
export async function postFrame(page: Page, url: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`).join('');
  await page.setContent(`<form id="b24" method="post" action="${url}">${inputs}</form>`);
  await Promise.all([page.waitForNavigation(), page.evaluate(() => (document.getElementById('b24') as HTMLFormElement).submit())]);
}

export const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
