import { afterEach, describe, expect, it } from 'vitest';
import express from 'express';
import request from 'supertest';
import type { Db } from '../src/platform/db.js';
import { homeRoutes } from '../src/web/home.routes.js';
import { createTestContext, PUBLIC_URL, TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';

let ctx: TestContext | undefined;
let t: InstalledPortal | undefined;
afterEach(async () => {
  await ctx?.close();
  await t?.close();
  ctx = undefined;
  t = undefined;
});

const browser = (app: Parameters<typeof request>[0], lang = 'en-US,en;q=0.9') => request(app).get('/').set('accept', 'text/html,application/xhtml+xml').set('accept-language', lang);
const check = (html: string, name: string) => new RegExp(`data-check="${name}" data-ok="(true|false)"`).exec(html)?.[1];

describe('GET / in a browser', () => {
  it('says what the service is, that it is ready, and exactly what to enter in Bitrix24', async () => {
    ctx = await createTestContext({ env: { ADMIN_PASSWORD: 'operator-password-1' } });
    const res = await browser(ctx.app);
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/html');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.text).toContain('<h1>Bitrix24 SMS provider</h1>');
    expect(['credentials', 'public-url', 'database'].map((c) => check(res.text, c))).toEqual(['true', 'true', 'true']);
    expect(res.text).toContain(`<code id="app-url">${PUBLIC_URL}/</code>`);
    expect(res.text).toContain(`<code id="install-url">${PUBLIC_URL}/install</code>`);
    expect(res.text).toMatch(/<code id="scopes">messageservice<\/code>: registers the app&#39;s SMS providers/);
    expect(res.text).toContain('npm run demo');
    expect(res.text).toContain('<td id="portals">none yet</td>');
    for (const secret of [ctx.config.B24_CLIENT_SECRET, ctx.config.B24_CLIENT_ID, TEST_SECRET_KEY, 'operator-password-1']) expect(res.text).not.toContain(secret);
  });

  it('counts the portals that have a gateway, by gateway', async () => {
    t = await installedPortal();
    const res = await browser(t.ctx.app);
    expect(res.text).toContain('<td id="portals">1 (SMS.ru: 1)</td>');
  });

  it('says what is missing: credentials, a public https address', async () => {
    ctx = await createTestContext({ env: { B24_CLIENT_SECRET: '', PUBLIC_URL: 'http://localhost:3000' } });
    const res = await browser(ctx.app);
    expect(check(res.text, 'credentials')).toBe('false');
    expect(check(res.text, 'public-url')).toBe('false');
    expect(res.text).toContain('not set: installations are refused until they are');
    expect(res.text).toContain('this machine only: Bitrix24 cannot reach it');
    expect(res.text).toContain('<code id="install-url">http://localhost:3000/install</code>');
  });

  it('says when the database does not answer', async () => {
    const down = { raw: async () => Promise.reject(new Error('down')) } as unknown as Db;
    const app = express().use(homeRoutes({
      config: { PUBLIC_URL, B24_CLIENT_ID: 'id', B24_CLIENT_SECRET: 'secret' }, db: down,
      settings: { configuredByGateway: async () => ({}) },
    }));
    const res = await browser(app);
    expect(check(res.text, 'database')).toBe('false');
    expect(res.text).toContain('does not answer');
  });

  it('speaks Russian to a Russian browser', async () => {
    ctx = await createTestContext();
    const res = await browser(ctx.app, 'ru-RU,ru;q=0.9,en;q=0.8');
    expect(res.text).toContain('<html lang="ru">');
    expect(res.text).toContain('Путь для первоначальной установки');
  });

  it('answers JSON to a client that asks for it', async () => {
    ctx = await createTestContext();
    const res = await request(ctx.app).get('/').set('accept', 'application/json');
    expect(res.body).toEqual({
      ready: true, credentials: true, publicUrl: 'ok', database: true, portals: {},
      bitrix24: { appUrl: `${PUBLIC_URL}/`, installUrl: `${PUBLIC_URL}/install`, scopes: ['messageservice'] },
    });
  });

  it('leaves POST / to Bitrix24: it stays the app page', async () => {
    ctx = await createTestContext();
    const res = await request(ctx.app).post('/').type('form').send({});
    expect(res.status).toBe(400);
    expect(res.text).toContain('This page must be opened from Bitrix24');
  });
});
