import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { openAppPage, stateFor } from './helpers/install.js';

// Bitrix24 opens the app with ?LANG=ru; the app's forms post to /app/… without it, so every answer to them must
// take the language from somewhere else (the form token) to stay Russian.
let t: InstalledPortal | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("a Russian portal's pages", () => {
  it("refuse an expired form in Russian", async () => {
    let now = Date.now();
    t = await installedPortal({ clock: () => now });
    const { ctx, fake, fp } = t;
    const page = await openAppPage(ctx, fake, fp, { lang: 'ru' });
    expect(page.text).toContain('lang="ru"');
    const state = stateFor(page.text, '/app/senders/add');
    now += 31 * 60_000; // the page stayed open over lunch
    const late = await request(ctx.app).post('/app/senders/add').type('form').send({ state, sender_name: 'Shop2' });
    expect(late.status).toBe(401);
    expect(late.text).toContain('lang="ru"');
    expect(late.text).toContain('Срок действия формы истёк');
  });

  it('refuse an export run too often with a Russian page, not an English page around a Russian sentence', async () => {
    t = await installedPortal();
    const { ctx, fake, fp } = t;
    const state = stateFor((await openAppPage(ctx, fake, fp, { lang: 'ru' })).text, '/app/log');
    for (let i = 0; i < 5; i++) expect((await request(ctx.app).post('/app/log.csv').type('form').send({ state })).status).toBe(200);
    const limited = await request(ctx.app).post('/app/log.csv').type('form').send({ state });
    expect(limited.status).toBe(429);
    expect(limited.text).toContain('lang="ru"');
    expect(limited.text).toContain('Выгрузка журнала уже идёт');
    expect(limited.text).not.toContain('Something went wrong');
  });
});
