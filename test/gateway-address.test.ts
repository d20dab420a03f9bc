import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildDeps } from '../src/deps.js';
import { createApp } from '../src/web/app.js';
import { createLogger } from '../src/platform/logger.js';
import { createGatewayDispatcher, GATEWAY_LOOKUP_TIMEOUT } from '../src/platform/address-guard.js';
import { ADDRESS_FORBIDDEN_REASON } from '../src/gateways/gateway.js';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';
import { createTestContext, TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { formState, installPortal, openAppPage, openInstallPage, stateFor, submitInstallForm } from './helpers/install.js';
import { messageRow, postSms } from './helpers/sms.js';

let fake: FakeBitrix24;
let internal: FakeKannel;
let fp: FakePortal;
let ctx: TestContext;
const SECRET_BODY = 'INTERNAL-ADMIN-PANEL root=hunter2 token=abc123';

beforeEach(async () => {
  fake = await startFakeBitrix24();
  internal = await startFakeKannel();
  fp = await fake.addPortal();
});
afterEach(async () => {
  await ctx.close();
  await internal.close();
  await fake.close();
});

const kannelFields = (url: string, o: Record<string, string> = {}) => ({ provider: 'kannel', kannel_url: url, kannel_username: internal.username, kannel_password: internal.password, sender: 'Shop', ...o });
const fieldError = (html: string, field: string) => new RegExp(`id="${field}-error">([^<]*)<`).exec(html)?.[1];
const portalId = async (c: TestContext = ctx) => (await c.deps.portals.findByMemberId(fp.memberId))!.id;

/** A second service on the same database and settings: another configuration or another resolver. */
function sameDatabase(o: { allowPrivate: boolean; lookup?: (host: string) => Promise<string[]>; connectTimeoutMs?: number }): TestContext {
  const config = { ...ctx.config, ALLOW_PRIVATE_GATEWAYS: o.allowPrivate };
  const gatewayDispatcher = createGatewayDispatcher({ allowPrivate: o.allowPrivate, publicUrl: config.PUBLIC_URL, lookup: o.lookup, connectTimeoutMs: o.connectTimeoutMs });
  const deps = buildDeps({ config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, gatewayDispatcher, restRetryBackoffMs: () => 50 });
  return { ...ctx, deps, app: createApp(deps), config };
}

describe('by default a gateway address may not be internal', () => {
  beforeEach(async () => {
    ctx = await createTestContext({ fake });
  });

  it('refuses loopback URLs on the install form and the settings form; nothing is stored and nothing reaches the address', async () => {
    const loopback = ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]', '[::1]', '0x7f.1'].map((h) => `http://${h}:${internal.port}`);
    for (const url of loopback) {
      const page = await openInstallPage(ctx, fake, fp);
      const res = await submitInstallForm(ctx, formState(page.text), kannelFields(url));
      expect(res.status, url).toBe(422);
      expect(fieldError(res.text, 'kannel_url'), url).toBe('This address is on a private or local network, which this service does not reach');
    }
    expect(await ctx.deps.settings.get(await portalId())).toBeUndefined();

    await installPortal(ctx, fake, fp); // SMS.ru
    for (const url of loopback) {
      const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
      const res = await request(ctx.app).post('/app/gateway').type('form').send({ state, ...kannelFields(url) });
      expect(res.status, url).toBe(422);
      expect(fieldError(res.text, 'kannel_url'), url).toMatch(/private or local network/);
    }
    expect((await ctx.deps.settings.get(await portalId()))?.gateway).toBe('smsru');
    expect(internal.requests).toHaveLength(0);
  });

  it('refuses a name that resolves to loopback when the credentials are checked, on both forms', async () => {
    const app = sameDatabase({ allowPrivate: false, lookup: async (h) => (h === 'kannel.example.test' ? ['127.0.0.1'] : []) });
    const url = `http://kannel.example.test:${internal.port}`;
    const page = await openInstallPage(app, fake, fp);
    const res = await submitInstallForm(app, formState(page.text), kannelFields(url));
    expect(res.status).toBe(422);
    expect(fieldError(res.text, 'kannel_url')).toBe('This address is on a private or local network, which this service does not reach');
    expect(await ctx.deps.settings.get(await portalId())).toBeUndefined();

    await installPortal(app, fake, fp);
    const state = stateFor((await openAppPage(app, fake, fp)).text, '/app/gateway');
    const saved = await request(app.app).post('/app/gateway').type('form').send({ state, ...kannelFields(url) });
    expect(saved.status).toBe(422);
    expect(saved.text).toContain('private or local network');
    expect((await ctx.deps.settings.get(await portalId()))?.gateway).toBe('smsru');
    expect(internal.requests).toHaveLength(0);
    await app.deps.dispatcher.close();
  });

  it('refuses a query, a fragment or user info in the base URL (they would swallow or redirect our path)', async () => {
    for (const url of ['http://kannel.example.com:13013/anything#', 'http://kannel.example.com:13013/?x=1', 'http://kannel.example.com/#frag', 'http://u:p@kannel.example.com/']) {
      const page = await openInstallPage(ctx, fake, fp);
      const res = await submitInstallForm(ctx, formState(page.text), kannelFields(url));
      expect(res.status, url).toBe(422);
      expect(fieldError(res.text, 'kannel_url'), url).toMatch(/without \? or #|No user name or password/);
    }
  });
});

describe('with ALLOW_PRIVATE_GATEWAYS=1', () => {
  const lines: string[] = [];
  beforeEach(async () => {
    lines.length = 0;
    const log = createLogger('info', { write: (s: string) => void lines.push(s) });
    ctx = await createTestContext({ fake, log, env: { ALLOW_PRIVATE_GATEWAYS: '1' } });
  });

  it('accepts a Kannel on loopback', async () => {
    await installPortal(ctx, fake, fp, kannelFields(internal.url));
    expect((await ctx.deps.settings.get(await portalId()))?.credentials).toMatchObject({ url: internal.url });
  });

  it('never shows what the address answered: not on the form, the message row, the app page or the log page; the logs get a short masked line', async () => {
    internal.setBehaviour({ kind: 'answer', status: 403, body: `${SECRET_BODY}\n${'x'.repeat(300)}` });
    const page = await openInstallPage(ctx, fake, fp);
    const refused = await submitInstallForm(ctx, formState(page.text), kannelFields(internal.url));
    expect(refused.status).toBe(422);
    expect(fieldError(refused.text, 'kannel_password')).toBe('Kannel refused the username or password');
    expect(refused.text).not.toContain('INTERNAL-ADMIN');

    internal.setBehaviour({ kind: 'kannel' });
    await installPortal(ctx, fake, fp, kannelFields(internal.url));
    const ids: string[] = [];
    for (const status of [400, 404, 418, 500]) {
      internal.setBehaviour({ kind: 'answer', status, body: `${SECRET_BODY} ${'y'.repeat(300)}` });
      ids.push(await postSms(ctx, fp, { to: '+79991234567', text: `status ${status}` }));
      await ctx.deps.worker.runOnce();
    }
    for (const id of ids) {
      const row = await messageRow(ctx, id);
      expect(JSON.stringify(row)).not.toContain('INTERNAL-ADMIN');
    }
    expect(await messageRow(ctx, ids[0]!)).toMatchObject({ state: 'failed', failure_reason: 'Kannel refused the message as invalid (HTTP 400)' });
    expect(await messageRow(ctx, ids[3]!)).toMatchObject({ state: 'queued', gateway_status_text: 'Kannel is temporarily unavailable (HTTP 500)' });

    for (const userId of [1, 2]) {
      const app = await openAppPage(ctx, fake, fp, { userId });
      expect(app.status).toBe(200);
      expect(app.text).toContain('Kannel refused the message as invalid');
      expect(app.text).not.toContain('INTERNAL-ADMIN');
      const log = await request(ctx.app).post('/app/log').type('form').send({ state: stateFor(app.text, '/app/log'), status: 'failed' });
      expect(log.status).toBe(200);
      expect(log.text).not.toContain('INTERNAL-ADMIN');
    }

    const answers = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'gateway.answer' || e.msg === 'gateway.check.answer');
    expect(answers.length).toBeGreaterThanOrEqual(5);
    for (const e of answers) {
      expect(e.answer.length).toBeLessThanOrEqual(200);
      expect(e.answer).not.toMatch(/[\n\r]/);
      expect(e.answer).not.toContain(internal.password);
    }
  });

  it('checks again when connecting: an account saved while allowed is refused by a service started without the permission', async () => {
    await installPortal(ctx, fake, fp, kannelFields(internal.url));
    const before = internal.requests.length;
    const strict = sameDatabase({ allowPrivate: false });
    const id = await postSms(ctx, fp);
    expect(await strict.deps.worker.runOnce()).toBe(1);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', gateway_status: 'GATEWAY_ADDRESS_FORBIDDEN', failure_reason: ADDRESS_FORBIDDEN_REASON });
    expect(internal.requests.length).toBe(before);
    await strict.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
    await strict.deps.dispatcher.close();
  });
});

describe('a gateway name whose name server never answers', () => {
  beforeEach(async () => {
    ctx = await createTestContext({ fake, env: { ALLOW_PRIVATE_GATEWAYS: '1' } });
  });

  it('holds back only its own portal: its SMS wait in the queue to be retried, the name is looked up once, and another portal\'s SMS goes out', async () => {
    const stuckPortal = await fake.addPortal();
    const url = `http://kannel.example.test:${internal.port}`;
    const resolving = sameDatabase({ allowPrivate: true, lookup: async (h) => (h === 'kannel.example.test' ? ['127.0.0.1'] : []) });
    await installPortal(resolving, fake, stuckPortal, kannelFields(url));
    await installPortal(ctx, fake, fp, kannelFields(internal.url));
    const sentBefore = internal.requests.length;

    let stuckLookups = 0;
    const neverAnswered = (h: string) => (h === 'kannel.example.test' ? (stuckLookups++, new Promise<string[]>(() => undefined)) : Promise.resolve([]));
    const stuck = sameDatabase({ allowPrivate: true, lookup: neverAnswered, connectTimeoutMs: 100 });
    const waiting: string[] = [];
    for (let i = 0; i < 8; i++) waiting.push(await postSms(ctx, stuckPortal, { text: `stuck ${i}` }));
    const other = await postSms(ctx, fp);
    await stuck.deps.worker.runOnce();

    for (const id of waiting) expect(await messageRow(ctx, id)).toMatchObject({ state: 'queued', gateway_status: GATEWAY_LOOKUP_TIMEOUT });
    expect(await messageRow(ctx, other)).toMatchObject({ state: 'sent' });
    expect(stuckLookups).toBe(1);
    expect(internal.requests.length).toBe(sentBefore + 1);
    await Promise.all([resolving.deps.dispatcher.close(), stuck.deps.dispatcher.close()]);
  });
});

describe('the saved Kannel password', () => {
  let other: FakeKannel;
  beforeEach(async () => {
    other = await startFakeKannel({ behaviour: { kind: 'answer', status: 400, body: 'Missing receiver' } }); // answers like a Kannel that takes any login
    ctx = await createTestContext({ fake, env: { ALLOW_PRIVATE_GATEWAYS: '1' } });
    await installPortal(ctx, fake, fp, kannelFields(internal.url));
  });
  afterEach(async () => other.close());

  const saveGateway = async (fields: Record<string, string>, lang = 'en') => {
    const state = stateFor((await openAppPage(ctx, fake, fp, { lang })).text, '/app/gateway');
    return request(ctx.app).post('/app/gateway').type('form').send({ state, ...fields });
  };

  it('is asked for again when the URL or the username changes, on the settings form and the install form; it never reaches the new address', async () => {
    const blank = { kannel_password: '' };
    for (const change of [{ kannel_url: other.url }, { kannel_url: `${internal.url}/` }, { kannel_username: 'someone-else' }] as Array<Record<string, string>>) {
      const res = await saveGateway(kannelFields(internal.url, { ...blank, ...change }));
      expect(res.status, JSON.stringify(change)).toBe(422);
      expect(fieldError(res.text, 'kannel_password')).toBe('The address or username changed: enter the sendsms password again');
    }
    const ru = await saveGateway(kannelFields(other.url, blank), 'ru');
    expect(fieldError(ru.text, 'kannel_password')).toBe('Адрес или имя пользователя изменились: введите пароль sendsms ещё раз');

    const page = await openInstallPage(ctx, fake, fp);
    const install = await submitInstallForm(ctx, formState(page.text), kannelFields(other.url, blank));
    expect(install.status).toBe(422);
    expect(fieldError(install.text, 'kannel_password')).toBe('The address or username changed: enter the sendsms password again');

    expect(other.requests).toHaveLength(0);
    expect((await ctx.deps.settings.get(await portalId()))?.credentials).toEqual({ url: internal.url, username: internal.username, password: internal.password });
  });

  it('is kept when only the sender or nothing changes, and replaced when a new one is typed with the new URL', async () => {
    expect((await saveGateway(kannelFields(internal.url, { kannel_password: '' }))).status).toBe(200);
    expect((await ctx.deps.settings.get(await portalId()))?.credentials.password).toBe(internal.password);

    expect((await saveGateway(kannelFields(other.url, { kannel_password: 'new-secret' }))).status).toBe(200);
    expect((await ctx.deps.settings.get(await portalId()))?.credentials).toEqual({ url: other.url, username: internal.username, password: 'new-secret' });
    expect(other.requests.length).toBeGreaterThan(0); // the check, and the settings page asking for the balance
    expect(other.requests.every((r) => r.params.password === 'new-secret')).toBe(true);
  });
});
