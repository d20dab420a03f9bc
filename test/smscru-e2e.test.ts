import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { startFakeSmscRu, type FakeSmscRu } from './fakes/smscru.js';
import type { TestContext } from './helpers/app.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { formState, installPortal, openAppPage, openInstallPage, stateFor, submitInstallForm } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually, untilIdle } from './helpers/wait.js';
import { buildDeps } from '../src/deps.js';
import { createLogger } from '../src/platform/logger.js';
import { createStatusesJob } from '../src/delivery/statuses-job.js';
import { createLeases } from '../src/platform/leases.js';

/**
 * SMSC.ru from Bitrix24 to the fake SMSC and back: installed through the install page, SMS posted to /handler, the
 * worker, the statuses job and the reporter stepped with runOnce() under the test's clock (the fake SMSC's too).
 */
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let smsc: FakeSmscRu;
let close: () => Promise<void>;
let now: number;
const clock = () => now;
const SMSC_FIELDS = { provider: 'smscru', smscru_login: 'shop', smscru_password: 's3cret', sender: 'MyShop' };

beforeEach(async () => {
  now = Date.UTC(2026, 10, 22, 12);
  smsc = await startFakeSmscRu({ clock, accounts: { shop: { password: 's3cret', balance: 500 }, shop2: { password: 'other', balance: 50 } } });
  ({ fake, fp, ctx, close } = await installedPortal({
    clock, random: () => 0.5, install: SMSC_FIELDS,
    // A short deadline: a lost answer is noticed quickly.
    env: { SMSCRU_API_URL: smsc.url, GATEWAY_TIMEOUT_MS: '1000', SMSCRU_CONCURRENCY: '5' },
  }));
});
afterEach(async () => {
  await close();
  await smsc.close();
});

const post = (path: string, fields: Record<string, string>) => request(ctx.app).post(path).type('form').send(fields);
const phone = (i: number) => `+7999${String(5550000 + i)}`;
const row = (b24Id: string) => messageRow(ctx, b24Id);
const sendsOf = (id: number) => smsc.requests.filter((r) => r.cmd === 'send' && r.params.id === String(id)).length;
const minutes = (n: number) => (now += n * 60_000);

describe('a portal on SMSC.ru', () => {
  it('is installed through the install page: the check asks SMSC for the balance; the page shows it, the login, never the password', async () => {
    expect(smsc.requests.filter((r) => r.cmd === 'balance')).toHaveLength(1);
    const settings = await ctx.deps.settings.get((await ctx.deps.portals.findByMemberId(fp.memberId))!.id);
    expect(settings).toMatchObject({ gateway: 'smscru', credentials: { login: 'shop', password: 's3cret' } });
    const page = await openAppPage(ctx, fake, fp);
    expect(page.text).toContain('Gateway balance: <b id="balance">500.00</b>');
    expect(page.text).toMatch(/<option value="smscru" selected>SMSC.ru<\/option>/);
    expect(page.text).toMatch(/id="smscru_login"[^>]*value="shop"/);
    expect(page.text).not.toContain('s3cret');
  });

  it('the install form says what is wrong next to each field, in plain words', async () => {
    const other = await fake.addPortal();
    const state = formState((await openInstallPage(ctx, fake, other)).text);
    const empty = await submitInstallForm(ctx, state, { provider: 'smscru', smscru_login: '', smscru_password: '', sender: 'Shop' });
    expect(empty.status).toBe(422);
    expect(empty.text).toMatch(/id="smscru_login-error">Enter the SMSC.ru login/);
    expect(empty.text).toMatch(/id="smscru_password-error">Enter the SMSC.ru password/);
    const wrong = await submitInstallForm(ctx, state, { provider: 'smscru', smscru_login: 'shop', smscru_password: 'guess', sender: 'Shop' });
    expect(wrong.status).toBe(422);
    expect(wrong.text).toMatch(/id="smscru_password-error">SMSC.ru refused the login or password/);
    expect(wrong.text).toMatch(/id="smscru_login"[^>]*value="shop"/); // the login stays typed in, the password does not
    expect(wrong.text).not.toContain('guess');
  });

  it('on the settings page an empty password keeps the saved one only while the login is unchanged', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const moved = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop2', smscru_password: '', default_country: 'RU' });
    expect(moved.status).toBe(422);
    expect(moved.text).toMatch(/id="smscru_password-error">The login changed: enter the SMSC.ru password again/);
    const kept = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop', smscru_password: '', default_country: 'RU' });
    expect(kept.status).toBe(200);
    expect((await ctx.deps.settings.get((await ctx.deps.portals.findByMemberId(fp.memberId))!.id))!.credentials).toEqual({ login: 'shop', password: 's3cret' });
  });

  it('delivered, undelivered, failed and refused numbers all end with the right status in Bitrix24', async () => {
    smsc.undeliverable.add(phone(3).slice(1));
    smsc.unavailable.add(phone(4).slice(1));
    smsc.invalid.add(phone(5).slice(1));
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await postSms(ctx, fp, { to: phone(i), text: `Заказ ${i} готов` }));
    await untilIdle(ctx.deps.worker);
    const first = await row(ids[0]!);
    expect(first).toMatchObject({ state: 'sent', gateway: 'smscru', gateway_message_id: String(first.id), sender: 'MyShop', segments: 1, encoding: 'UCS-2' });
    expect(await row(ids[5]!)).toMatchObject({ state: 'failed', gateway_status: '7', failure_reason: 'SMSC.ru: wrong phone number format' });

    smsc.settle();
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 5, expired: 0 });
    expect(smsc.stats.massStatusRequests).toBe(1); // the five in one multi-form request
    await ctx.deps.reporter.runOnce();
    expect(ids.map((id) => fp.shown.get(id))).toEqual(['delivered', 'delivered', 'delivered', 'undelivered', 'failed', 'failed']);
    expect(await row(ids[3]!)).toMatchObject({ state: 'undelivered', gateway_status: '20', failure_reason: 'not delivered: the subscriber does not exist' });

    // The message log on the settings page shows the parts and encoding, counted as for every gateway.
    const long = await postSms(ctx, fp, { to: phone(9), text: 'Ю'.repeat(71) });
    await ctx.deps.worker.runOnce();
    expect(await row(long)).toMatchObject({ segments: 2, encoding: 'UCS-2' });
    expect(smsc.byId((await row(long)).id)[0]!.cnt).toBe(2); // SMSC counts the same
    const page = await openAppPage(ctx, fake, fp);
    expect(page.text).toMatch(/<td>MyShop<\/td><td>2 <span class="hint">UCS-2<\/span><\/td>/);
  });

  it('a send that failed on a wrong password says so in the log, and the next ones fail without asking SMSC', async () => {
    const portalId = (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;
    await ctx.deps.settings.save(portalId, { gateway: 'smscru', credentials: { login: 'shop', password: 'changed-at-smsc' } }, now);
    ctx.deps.accounts.forget(portalId);
    const a = await postSms(ctx, fp, { to: phone(1), text: 'one' });
    await untilIdle(ctx.deps.worker);
    expect(smsc.requests.filter((r) => r.cmd === 'send')).toHaveLength(1);
    const b = await postSms(ctx, fp, { to: phone(2), text: 'two' }); // after SMSC refused the login once
    await untilIdle(ctx.deps.worker);
    for (const id of [a, b]) expect(await row(id)).toMatchObject({ state: 'failed', gateway_status: '2', failure_reason: expect.stringMatching(/^SMSC.ru: wrong login or password/) });
    expect(smsc.requests.filter((r) => r.cmd === 'send')).toHaveLength(1);
    await ctx.deps.reporter.runOnce();
    expect([fp.shown.get(a), fp.shown.get(b)]).toEqual(['failed', 'failed']);
    expect((await openAppPage(ctx, fake, fp)).text).toContain('SMSC.ru: wrong login or password');
  });

  it('the same text to the same number within a minute waits a minute instead of failing, and then goes', async () => {
    const a = await postSms(ctx, fp, { to: phone(1), text: 'Your code 1234' });
    const b = await postSms(ctx, fp, { to: phone(1), text: 'Your code 1234' });
    await ctx.deps.worker.runOnce();
    await ctx.deps.worker.runOnce();
    const states = [await row(a), await row(b)];
    const waiting = states.find((r) => r.state === 'queued')!;
    expect(states.filter((r) => r.state === 'sent')).toHaveLength(1);
    expect(waiting).toMatchObject({ gateway_status: '9' });
    expect(Number(waiting.next_attempt_at)).toBeGreaterThanOrEqual(now + 60_000);
    minutes(1);
    await ctx.deps.worker.runOnce();
    expect([(await row(a)).state, (await row(b)).state]).toEqual(['sent', 'sent']);
  });

  it('once SMSC blocks this server (error 4) the messages wait five minutes, and nothing more is asked meanwhile', async () => {
    smsc.block(3 * 60_000);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await postSms(ctx, fp, { to: phone(i), text: `m${i}` }));
    await ctx.deps.worker.runOnce();
    const asked = smsc.requests.filter((r) => r.cmd === 'send').length;
    for (const id of ids) {
      const r = await row(id);
      expect(r).toMatchObject({ state: 'queued', gateway_status: '4' });
      expect(Number(r.next_attempt_at)).toBeGreaterThanOrEqual(now + 5 * 60_000 - 1);
    }
    await ctx.deps.worker.runOnce();
    expect(smsc.requests.filter((r) => r.cmd === 'send')).toHaveLength(asked);
    minutes(5);
    await untilIdle(ctx.deps.worker);
    for (const id of ids) expect((await row(id)).state).toBe('sent');
  });
});

describe('a lost answer from SMSC.ru is settled by asking for our id, not guessed', () => {
  it('SMSC has it (the connection was cut after it stored the message): sent, never sent again, then delivered', async () => {
    smsc.nextSends('storeThenDrop');
    const id = await postSms(ctx, fp, { to: phone(1), text: 'lost answer' });
    await ctx.deps.worker.runOnce();
    const lost = await row(id);
    expect(lost).toMatchObject({ state: 'sending' });
    expect(lost.unknown_since).not.toBeNull();

    await ctx.deps.statusesJob.runOnce(); // too soon: SMSC may still be storing it
    expect(smsc.stats.singleStatusRequests).toBe(0);
    now += 15_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await row(id)).toMatchObject({ state: 'sent', gateway_message_id: String(lost.id), gateway_status: '-1' });
    await ctx.deps.worker.runOnce();
    expect(sendsOf(lost.id)).toBe(1);

    smsc.settle();
    minutes(1);
    await ctx.deps.statusesJob.runOnce();
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('SMSC never got it (error 3, "not found", after the grace period): sent again once, and delivered', async () => {
    smsc.nextSends('loseBeforeStore');
    const id = await postSms(ctx, fp, { to: phone(2), text: 'never arrived' });
    await ctx.deps.worker.runOnce(); // waits out the 1 s deadline
    const lost = await row(id);
    expect(lost).toMatchObject({ state: 'sending', gateway_status: 'HTTP_DEADLINE' });

    now += 60_000;
    await ctx.deps.statusesJob.runOnce(); // not found, but within the grace period: not yet
    expect(await row(id)).toMatchObject({ state: 'sending' });
    expect(await ctx.deps.worker.runOnce()).toBe(0);
    now += 60_000;
    await ctx.deps.statusesJob.runOnce();
    const again = await row(id);
    expect(again).toMatchObject({ state: 'queued' });
    expect(Number(again.resent_at)).toBe(now);
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ state: 'sent', gateway_message_id: String(lost.id) });
    expect(sendsOf(lost.id)).toBe(2);
    expect(smsc.byId(lost.id)).toHaveLength(1);

    smsc.settle();
    minutes(1);
    await ctx.deps.statusesJob.runOnce();
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('lost twice: never a second resend; failed "outcome unknown" after UNKNOWN_OUTCOME_WINDOW', async () => {
    smsc.nextSends('loseBeforeStore', 2);
    const id = await postSms(ctx, fp, { to: phone(3), text: 'lost twice' });
    await ctx.deps.worker.runOnce();
    minutes(2);
    await ctx.deps.statusesJob.runOnce();
    await ctx.deps.worker.runOnce(); // the one resend, lost as well
    const m = await row(id);
    expect(sendsOf(m.id)).toBe(2);
    for (let i = 0; i < 16; i++) {
      minutes(1);
      await ctx.deps.statusesJob.runOnce();
      await ctx.deps.worker.runOnce();
    }
    expect(sendsOf(m.id)).toBe(2);
    expect(await row(id)).toMatchObject({ state: 'failed', failure_reason: 'outcome unknown: no delivery report from the gateway' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('one message SMSC never got keeps none of the portal\'s other lost answers from being looked up: the one SMSC has ends delivered', async () => {
    smsc.nextSends('loseBeforeStore');
    const never = await postSms(ctx, fp, { to: phone(2), text: 'never arrived' });
    await ctx.deps.worker.runOnce();
    smsc.nextSends('storeThenDrop');
    const stored = await postSms(ctx, fp, { to: phone(3), text: 'arrived, answer lost' });
    await ctx.deps.worker.runOnce();
    expect((await row(never)).unknown_since).not.toBeNull();
    expect((await row(stored)).unknown_since).not.toBeNull();
    for (let i = 0; i < 20; i++) {
      minutes(1);
      smsc.settle();
      await ctx.deps.statusesJob.runOnce();
      await ctx.deps.worker.runOnce();
    }
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(stored)).toBe('delivered');
    expect(sendsOf((await row(stored)).id)).toBe(1);
    expect(fp.shown.get(never)).toBe('delivered'); // sent again once
  });

  it('a lookup SMSC refuses for one message (error 1) is asked again later, and the portal\'s other lost answers are looked up meanwhile', async () => {
    smsc.nextSends('storeThenDrop', 2);
    const refused = await postSms(ctx, fp, { to: phone(5), text: 'refused lookup' });
    const other = await postSms(ctx, fp, { to: phone(6), text: 'other lookup' });
    await ctx.deps.worker.runOnce();
    smsc.refuseStatusOf((await row(refused)).id, 1);
    now += 15_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await row(other)).toMatchObject({ state: 'sent', unknown_since: null });
    expect((await row(refused)).unknown_since).not.toBeNull();

    smsc.refuseStatusOf((await row(refused)).id, undefined);
    now += 15_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await row(refused)).toMatchObject({ state: 'sent', unknown_since: null });
    expect(sendsOf((await row(refused)).id)).toBe(1);
  });

  it('SMSC refusing the login (error 2) stops the portal\'s lookups for that run, rather than asking about each message; they go on once it takes it again', async () => {
    smsc.nextSends('storeThenDrop', 2);
    const ids = [await postSms(ctx, fp, { to: phone(5), text: 'first' }), await postSms(ctx, fp, { to: phone(6), text: 'second' })];
    await ctx.deps.worker.runOnce();
    smsc.accounts.get('shop')!.password = 'changed';
    now += 15_000;
    const asked = smsc.stats.statusRequests;
    await ctx.deps.statusesJob.runOnce();
    expect(smsc.stats.statusRequests - asked).toBe(1);
    smsc.accounts.get('shop')!.password = 's3cret';
    now += 15_000;
    await ctx.deps.statusesJob.runOnce();
    for (const id of ids) expect(await row(id)).toMatchObject({ state: 'sent', unknown_since: null });
  });

  it('a lost answer resent by another process between the expiry\'s read and its write is not failed "outcome unknown"', async () => {
    smsc.nextSends('loseBeforeStore');
    const id = await postSms(ctx, fp, { to: phone(7), text: 'resent just in time' });
    await ctx.deps.worker.runOnce();
    smsc.block(60 * 60_000); // no lookup of this process gets through: UNKNOWN_OUTCOME_WINDOW runs out
    minutes(16);
    const m = await row(id);
    const queue = ctx.deps.queue;
    // Right after this process's expiry read the message as still unknown, another process's lookup resent it.
    const racing = { ...queue, stale: async (o: Parameters<typeof queue.stale>[0]) => {
      const read = await queue.stale(o);
      expect(read.unknown).toContain(m.id);
      expect(await queue.resendOnce(m.id, now)).toBe(true);
      return read;
    } };
    const job = createStatusesJob({
      queue: racing, accounts: ctx.deps.accounts, leases: createLeases(ctx.db), clock, log: createLogger('silent'),
      options: { maxAgeMs: ctx.config.STATUS_MAX_AGE, unknownOutcomeMs: ctx.config.UNKNOWN_OUTCOME_WINDOW, perPortalLimit: 100, pollLeaseMs: 30_000 },
    });
    await job.runOnce();
    expect(await row(id)).toMatchObject({ state: 'queued', failure_reason: null });
  });

  it('a lost answer at one login is looked up at that login after the portal switched to another (there it would not be found, and go again)', async () => {
    smsc.nextSends('storeThenDrop');
    const id = await postSms(ctx, fp, { to: phone(4), text: 'lost, then the login changed' });
    await ctx.deps.worker.runOnce();
    const lost = await row(id);
    expect(lost).toMatchObject({ state: 'sending' });
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    expect((await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop2', smscru_password: 'other', default_country: 'RU' })).status).toBe(200);
    for (let i = 0; i < 16; i++) {
      minutes(1);
      await ctx.deps.statusesJob.runOnce();
      await ctx.deps.worker.runOnce();
    }
    // Found at shop (kept as the portal's earlier login), never sent again, and shop2 never asked about it.
    expect(sendsOf(lost.id)).toBe(1);
    expect(smsc.requests.filter((r) => r.cmd === 'status' && r.params.login === 'shop2')).toHaveLength(0);
    expect(smsc.requests.filter((r) => r.cmd === 'status' && r.params.login === 'shop').length).toBeGreaterThan(0);
    expect((await row(id)).state).not.toBe('failed');
    expect((await row(id)).unknown_since).toBeNull();
  });

  it('a worker that died with the request in flight leaves it to the lookup too: found, sent once', async () => {
    smsc.nextSends('storeThenHang');
    const id = await postSms(ctx, fp, { to: phone(4), text: 'worker died' });
    const dying = ctx.deps.worker.runOnce();
    await eventually(() => smsc.messages.size > 0, 'the request to reach SMSC');
    now += 21_000; // past WORKER_LEASE: another process reaps the claim
    await ctx.deps.worker.reap();
    expect((await row(id)).unknown_since).not.toBeNull();
    await dying; // its late deadline changes nothing
    smsc.dropHung();
    now += 15_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await row(id)).toMatchObject({ state: 'sent' });
    expect(sendsOf((await row(id)).id)).toBe(1);
  });
});

describe('SMSC.ru\'s limits, kept across portals and processes sharing one login', () => {
  it('one mass status request a minute per login: portals take turns, another process adds none, SMSC never answers error 9', async () => {
    const fp2 = await fake.addPortal();
    await installPortal(ctx, fake, fp2, SMSC_FIELDS);
    const a = await postSms(ctx, fp, { to: phone(1), text: 'portal one' });
    const b = await postSms(ctx, fp2, { to: phone(2), text: 'portal two' });
    await untilIdle(ctx.deps.worker);
    smsc.settle();
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock });
    await ctx.deps.statusesJob.runOnce();
    await other.statusesJob.runOnce();
    expect(smsc.stats.massStatusRequests).toBe(1);
    minutes(1);
    await ctx.deps.statusesJob.runOnce();
    expect(smsc.stats.massStatusRequests).toBe(2);
    expect([(await row(a)).state, (await row(b)).state]).toEqual(['delivered', 'delivered']);
    expect(smsc.stats.errors[9]).toBeUndefined();
  });

  it('more pending messages than one status request holds: each minute asks about the next ones, in whichever process, so none is left unasked', async () => {
    const ids = [];
    for (let i = 0; i < 150; i++) ids.push(await postSms(ctx, fp, { to: phone(100 + i), text: `pending ${i}` }));
    await untilIdle(ctx.deps.worker);
    const sent = await Promise.all(ids.map(async (b24) => String((await row(b24)).gateway_message_id)));
    expect(new Set(sent).size).toBe(150);
    // Nobody's operator answers: all 150 stay pending, and one mass request a minute holds 100 of them.
    const askedIn = () => smsc.requests.filter((r) => r.cmd === 'status').map((r) => r.params.id!.split(',').filter(Boolean));
    // Worker processes take turns at a portal's polling: the second minute's run is another process's.
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock });
    await ctx.deps.statusesJob.runOnce();
    minutes(1);
    await other.statusesJob.runOnce();
    const asked = askedIn();
    expect(asked).toHaveLength(2);
    expect(asked.every((list) => list.length <= 100)).toBe(true);
    expect(new Set(asked.flat())).toEqual(new Set(sent));
    // Settled now: the next minutes' requests bring every status home.
    smsc.settle();
    for (let i = 0; i < 2; i++) {
      minutes(1);
      await ctx.deps.statusesJob.runOnce();
    }
    const states = await ctx.db('messages').whereIn('gateway_message_id', sent).pluck('state');
    expect(states.filter((st) => st === 'delivered')).toHaveLength(150);
  });

  it('two portals on one login never have more than SMSCRU_CONCURRENCY sends in flight, though each may have GATEWAY_CONCURRENCY', async () => {
    const fp2 = await fake.addPortal();
    await installPortal(ctx, fake, fp2, SMSC_FIELDS);
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push(await postSms(ctx, i % 2 ? fp2 : fp, { to: phone(i), text: `burst ${i}` }));
    smsc.holdSends();
    const running = untilIdle(ctx.deps.worker);
    await eventually(() => smsc.inFlight('shop') === 5, 'five sends in flight');
    smsc.release();
    await running;
    for (const id of ids) expect((await row(id)).state).toBe('sent');
    expect(smsc.stats.inFlightMax).toBe(5);
    expect(smsc.stats.errors[9]).toBeUndefined();
  });
});

describe('wrong SMSC.ru credentials on the forms never get this server blocked for every portal', () => {
  const balanceRequests = () => smsc.requests.filter((r) => r.cmd === 'balance').length;
  const sendRequests = () => smsc.requests.filter((r) => r.cmd === 'send').length;
  const portalId = async () => (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;
  const errorText = (html: string) => /id="smscru_password-error">([^<]*)</.exec(html)?.[1] ?? '';

  it('the settings form posted twenty times with one wrong password asks SMSC once; every post says why; SMS still go', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const before = balanceRequests();
    for (let i = 0; i < 20; i++) {
      const res = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop', smscru_password: 'guess', default_country: 'RU' });
      expect(res.status).toBe(422);
      expect(errorText(res.text)).toMatch(/^SMSC.ru refused (the|this) login or password/);
      expect(res.text).not.toContain('guess');
    }
    expect(balanceRequests() - before).toBe(1);
    expect(smsc.stats.errors[4]).toBeUndefined(); // SMSC never blocked this server
    const id = await postSms(ctx, fp, { to: phone(1), text: 'still goes' });
    await untilIdle(ctx.deps.worker);
    expect(await row(id)).toMatchObject({ state: 'sent' });
  });

  it('a different wrong password each time: after five refusals in a minute a portal\'s checks wait, while checks SMSC accepts never do', async () => {
    const pages = balanceRequests();
    for (let i = 0; i < 8; i++) await openAppPage(ctx, fake, fp); // the balance widget, with the right password
    expect(balanceRequests() - pages).toBe(8);
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const before = balanceRequests();
    const texts = [];
    for (let i = 0; i < 20; i++) {
      const res = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop', smscru_password: `guess-${i}`, default_country: 'RU' });
      expect(res.status).toBe(422);
      texts.push(errorText(res.text));
    }
    expect(balanceRequests() - before).toBe(5);
    expect(texts.slice(0, 5).every((t) => /^SMSC.ru refused the login or password/.test(t))).toBe(true);
    expect(texts.slice(5).every((t) => /^SMSC.ru refused 5 logins or passwords from this portal within a minute; try again in \d+ s/.test(t))).toBe(true);
    expect(smsc.stats.errors[4]).toBeUndefined();
    const id = await postSms(ctx, fp, { to: phone(1), text: 'still goes' });
    await untilIdle(ctx.deps.worker);
    expect(await row(id)).toMatchObject({ state: 'sent' });
    minutes(1);
    const right = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop', smscru_password: 's3cret', default_country: 'RU' });
    expect(right.status).toBe(200);
  });

  it('a refusal learned by the settings page\'s balance is honoured by the send worker, and the other way round', async () => {
    // The password was changed at SMSC: the stored one is wrong now.
    await ctx.deps.settings.save(await portalId(), { gateway: 'smscru', credentials: { login: 'shop', password: 'changed-at-smsc' } }, now);
    ctx.deps.accounts.forget(await portalId());
    const before = balanceRequests();
    for (let i = 0; i < 5; i++) await openAppPage(ctx, fake, fp); // the balance widget, five times
    expect(balanceRequests() - before).toBe(1);
    const a = await postSms(ctx, fp, { to: phone(1), text: 'one' });
    await untilIdle(ctx.deps.worker);
    expect(await row(a)).toMatchObject({ state: 'failed', gateway_status: '2' });
    expect(sendRequests()).toBe(0); // the worker did not ask SMSC again

    minutes(6); // the refusal is forgotten; the worker learns it again
    const b = await postSms(ctx, fp, { to: phone(2), text: 'two' });
    await untilIdle(ctx.deps.worker);
    expect(await row(b)).toMatchObject({ state: 'failed', gateway_status: '2' });
    expect(sendRequests()).toBe(1);
    const now2 = balanceRequests();
    await openAppPage(ctx, fake, fp);
    expect(balanceRequests()).toBe(now2);
  });

  it('a block (error 4) the send worker met stops the forms\' checks too, and the form says so', async () => {
    smsc.block(10 * 60_000);
    const id = await postSms(ctx, fp, { to: phone(1), text: 'one' });
    await ctx.deps.worker.runOnce();
    expect(await row(id)).toMatchObject({ state: 'queued', gateway_status: '4' });
    const before = smsc.requests.length;
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/gateway');
    const res = await post('/app/gateway', { state, provider: 'smscru', smscru_login: 'shop', smscru_password: 's3cret', default_country: 'RU' });
    expect(res.status).toBe(422);
    expect(errorText(res.text)).toMatch(/^SMSC.ru has blocked requests from this server for a while/);
    expect(smsc.requests.length).toBe(before);
  });
});
