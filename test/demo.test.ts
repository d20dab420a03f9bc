import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'undici';
import { createLogger } from '../src/platform/logger.js';
import { startDemo, type Demo } from '../src/demo/demo.js';
import { DEMO_OFFLINE, loopbackOnlySmpp } from '../src/demo/loopback-only.js';
import { createTestDb } from './helpers/db.js';
import { eventually, untilIdle } from './helpers/wait.js';

type TestDb = Awaited<ReturnType<typeof createTestDb>>;

let testDb: TestDb;
let demo: Demo;
let base: string;

// The worker, reporter and jobs are stepped by the tests (background: false), so that what the card shows before
// and after each step is certain; the sandbox reports at once (SANDBOX_DELAY 0) over HTTP as usual.
beforeAll(async () => {
  testDb = await createTestDb();
  demo = await startDemo({ database: testDb, sandboxDelay: '0', background: false, log: createLogger('silent') });
  base = new URL(demo.url).origin;
});
afterAll(async () => {
  await demo?.close();
  await testDb?.drop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
const post = (path: string, fields: Record<string, string>, accept = 'application/json') =>
  fetch(`${base}${path}`, { method: 'POST', headers: { accept, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields), redirect: 'manual' });
const messages = async () => (await (await get('/demo/messages')).json()) as Array<{ message_id: string; to: string; text: string; status: string }>;
const rowsFinal = async (n: number) => Number((await testDb.db('messages').whereIn('state', ['delivered', 'undelivered', 'failed']).count({ n: '*' }))[0]!.n) >= n;

/** The worker sends, the sandbox's reports arrive over HTTP, the reporter tells the portal. */
async function deliver(finalRows: number) {
  await untilIdle(demo.deps.worker);
  await eventually(() => rowsFinal(finalRows), `${finalRows} messages final`);
  await untilIdle({ runOnce: () => demo.deps.reporter.runOnce({ flush: true }) }); // the demo keeps REPORT_LINGER
}

describe('npm run demo', () => {
  it('listens on 127.0.0.1 only', () => {
    for (const u of [demo.url, demo.appUrl, demo.b24.oauthUrl]) expect(new URL(u).hostname).toBe('127.0.0.1');
  });

  it('starts with the app installed in the simulated portal on the sandbox gateway', async () => {
    expect(demo.portal.installed).toBe(true);
    const [provider] = [...demo.portal.senders.values()];
    expect(provider).toMatchObject({ CODE: 'smsgw_demoshop', NAME: { en: 'DemoShop (sandbox: nothing is really sent)', ru: 'DemoShop (песочница: SMS не отправляются)' }, TYPE: 'SMS' });
    expect(provider!.HANDLER.startsWith(`${demo.appUrl}/handler?key=`)).toBe(true);
    const stored = await demo.deps.portals.findByMemberId(demo.portal.memberId);
    expect((await demo.deps.settings.get(stored!.id))?.gateway).toBe('sandbox');
    // As on a real portal, the app's frames carried no application_token: ONAPPINSTALL, bound by the install and
    // sent once it was finished, brought it (verified with the installer's token).
    expect(demo.portal.events.map((e) => e.event)).toContain('ONAPPINSTALL');
    expect(await demo.deps.portals.matchesApplicationToken(stored!.id, demo.portal.applicationToken)).toBe(true);
  });

  it('has a card whose form, with inputs named to and text, posts to the same server', async () => {
    const page = await (await get('/demo')).text();
    const form = /<form method="post" action="([^"]+)" id="sms-form">([\s\S]*?)<\/form>/.exec(page);
    expect(form?.[1]).toBe('/demo/send');
    expect(form?.[2]).toMatch(/<input id="sms-to" name="to"/);
    expect(form?.[2]).toMatch(/<textarea id="sms-text" name="text"/);
    expect(page).toContain('<option value="smsgw_demoshop"');
  });

  it('shows each card message as sent, as Bitrix24 does, until the portal receives a status, then the status it received', async () => {
    const sent = await (await post('/demo/send', { to: '+7 999 123-45-67', text: 'Hello from the card' })).json();
    // Core Sender\Sms\Rest::sendMessage marks the message SENT once it is handed to the provider, and the app reports
    // final statuses only: a portal never shows "queued" for it.
    expect(demo.portal.statusUpdates).toEqual([]);
    expect(demo.portal.shown.get(sent.message_id)).toBe('sent');
    expect(sent).toMatchObject({ to: '+7 999 123-45-67', text: 'Hello from the card', status: 'sent' });
    expect(await messages()).toEqual([{ message_id: sent.message_id, to: '+7 999 123-45-67', text: 'Hello from the card', status: 'sent' }]);
    // What Bitrix24 posted to the handler is the real thing: the app stored it for this portal.
    expect(await testDb.db('messages').where({ b24_message_id: sent.message_id }).first()).toMatchObject({ state: 'queued', module_id: 'crm' });
    await deliver(1);
    expect((await messages())[0]!.status).toBe('delivered');
    expect(demo.portal.statusUpdates.at(-1)).toMatchObject({ MESSAGE_ID: sent.message_id, STATUS: 'delivered' });
  });

  it('ends numbers ending in 0 not delivered and numbers ending in 00 failed', async () => {
    await post('/demo/send', { to: '+7 999 123-45-60', text: 'off' });
    await post('/demo/send', { to: '+7 999 123-45-00', text: 'no route' });
    await deliver(3);
    expect((await messages()).map((m) => m.status)).toEqual(['delivered', 'undelivered', 'failed']);
  });

  it('runs the automation rule for 100 contacts, with counts by status', async () => {
    const res = await post('/demo/rule', { text: 'Your appointment is tomorrow' });
    expect(res.status).toBe(202);
    await eventually(async () => (await (await get('/demo/rule')).json()).handedOver === 100, 'the rule to hand over 100 messages');
    // Nothing sent yet (the worker is stepped): the portal shows all 100 as sent, as Bitrix24 does.
    expect((await (await get('/demo/rule')).json()).counts).toEqual({ sent: 100, delivered: 0, undelivered: 0, failed: 0 });
    await deliver(103);
    const progress = await (await get('/demo/rule')).json();
    expect(progress).toMatchObject({ total: 100, final: 100, counts: { sent: 0, delivered: 90, undelivered: 9, failed: 1 }, text: '100 of 100 with a final status' });
    // Robots' messages come from the business-process module without an author.
    expect(Number((await testDb.db('messages').where({ module_id: 'bizproc' }).count({ n: '*' }))[0]!.n)).toBe(100);
    expect((await messages()).length).toBe(3); // the card lists its own messages only
  });

  it('works without script: the forms post and the page comes back', async () => {
    const sent = await post('/demo/send', { to: '+7 999 765-43-21', text: 'no script' }, 'text/html');
    expect(sent.status).toBe(303);
    expect(sent.headers.get('location')).toBe('/demo#card');
    const page = await (await get('/demo')).text();
    expect(page).toContain('no script');
    const bad = await post('/demo/send', { to: '', text: '' }, 'text/html');
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('Enter a phone number and a text.');
    expect((await post('/demo/send', { to: '', text: 'x' })).status).toBe(422);
  });

  it('opens the app\'s frames as Bitrix24 does: a POST of fresh tokens that the app accepts', async () => {
    const launcher = await (await get('/demo/frame/install', { 'accept-language': 'ru-RU,ru;q=0.9' })).text();
    const action = /action="([^"]+)"/.exec(launcher)![1]!.replace(/&amp;/g, '&');
    expect(action.startsWith(`${demo.appUrl}/install?`)).toBe(true);
    expect(new URL(action).searchParams.get('LANG')).toBe('ru');
    const fields = Object.fromEntries([...launcher.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(fields)).toEqual(expect.arrayContaining(['AUTH_ID', 'REFRESH_ID', 'member_id']));
    expect(Object.keys(fields)).not.toContain('APPLICATION_TOKEN'); // core app.layout's form has none
    const installPage = await fetch(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
    expect(installPage.status).toBe(200);
    const html = await installPage.text();
    expect(html).toContain('Подключите SMS-шлюз');
    expect(html).toMatch(/<option value="sandbox" selected>/);
    // The app's frame may be embedded by this portal only.
    expect(installPage.headers.get('content-security-policy')).toContain(`frame-ancestors ${base}`);
  });

  it('serves the BX24 SDK itself, and the install page loads it from there', async () => {
    const sdk = await get('/bx24.js');
    expect(sdk.headers.get('content-type')).toContain('javascript');
    expect(await sdk.text()).toContain('installFinish');
    expect(demo.deps.config.B24_JS_SDK_URL).toBe(`${base}/bx24.js`);
  });

  it('never reaches beyond 127.0.0.1, whatever gateway a visitor picks', async () => {
    await expect(httpRequest('http://sms.ru/my/balance', { dispatcher: demo.deps.dispatcher })).rejects.toMatchObject({ code: DEMO_OFFLINE });
    // An SMS.ru key typed on the demo's install form is checked against nothing: the request never leaves.
    const check = await demo.deps.gateways('smsru', { api_key: 'a-visitors-key' }).checkCredentials();
    expect(check).toMatchObject({ ok: false, reason: 'SMS.ru could not be reached' });
    // SMPP sessions open plain TCP connections: the same rule.
    await expect(loopbackOnlySmpp()({ host: 'smpp.example.com', port: 2775, tls: false }, 1_000)).rejects.toMatchObject({ code: DEMO_OFFLINE });
  });

  it('answers no other Host than its own address: a web page rebinding a name to 127.0.0.1 gets no tokens, no password', async () => {
    // A browser sends the page's own name as Host after DNS rebinding; fetch cannot set Host, undici's request can.
    const asHost = async (url: string, host: string) => {
      const res = await httpRequest(url, { headers: { host } });
      return { status: res.statusCode, body: await res.body.text() };
    };
    const rebound = (url: string) => `rebind.attacker.example:${new URL(url).port}`;
    const frame = await asHost(`${base}/demo/frame/app`, rebound(base));
    expect(frame.status).toBe(421);
    expect(frame.body).not.toContain('name="AUTH_ID"');
    expect(frame.body).not.toContain('name="REFRESH_ID"');
    const page = await asHost(`${base}/demo`, rebound(base));
    expect(page.status).toBe(421);
    expect(page.body).not.toContain(demo.adminPassword);
    // Every listener of the demo: the portal's REST, the OAuth server and the app (its console, its frames).
    expect((await asHost(`${base}/rest/app.info`, rebound(base))).status).toBe(421);
    expect((await asHost(`${demo.b24.oauthUrl}/oauth/token/`, rebound(demo.b24.oauthUrl))).status).toBe(421);
    expect((await asHost(`${demo.appUrl}/admin`, rebound(demo.appUrl))).status).toBe(421);
    // Its own address works, by number or as localhost.
    expect((await asHost(`${base}/demo/frame/app`, new URL(base).host)).body).toContain('name="AUTH_ID"');
    expect((await asHost(`${base}/demo`, `localhost:${new URL(base).port}`)).status).toBe(200);
  });

  it('speaks the browser\'s language', async () => {
    expect(await (await get('/demo', { 'accept-language': 'ru-RU,ru;q=0.9,en;q=0.8' })).text()).toContain('Демо: SMS из Битрикс24');
    expect(await (await get('/demo', { 'accept-language': 'de-DE,de;q=0.9' })).text()).toContain('Demo: SMS from Bitrix24');
  });
});
