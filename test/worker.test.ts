import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { startFakeSmsRu, type FakeSmsRu } from './fakes/smsru.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { messageRow, postSms } from './helpers/sms.js';

let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: TestContext;
let now: number;

beforeEach(async () => {
  now = Date.UTC(2026, 10, 22, 12);
  fake = await startFakeBitrix24();
  smsru = await startFakeSmsRu({ keys: { 'good-key': 512.5 } });
  fp = await fake.addPortal();
  ctx = await createTestContext({ fake, smsru, clock: () => now, random: () => 0.5 });
  await installPortal(ctx, fake, fp, { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' });
});
afterEach(async () => {
  await ctx.close();
  await smsru.close();
  await fake.close();
});

const sendsTo = (to: string) => [...smsru.messages.values()].filter((m) => m.to === to).length;

describe('send worker', () => {
  it('sends a queued message once: sent with the gateway id, sender, segments; the statuses job then sees it delivered', async () => {
    const id = await postSms(ctx, fp, { text: 'Привет! Ваш код 1234' });
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    const sent = await messageRow(ctx, id);
    expect(sent).toMatchObject({ state: 'sent', gateway: 'smsru', gateway_status: '100', sender: 'MyShop', segments: 1, encoding: 'UCS-2', attempts: 1 });
    expect(sent.gateway_message_id).toMatch(/^202626-/);
    expect([...smsru.messages.values()]).toEqual([expect.objectContaining({ to: '79991234567', msg: 'Привет! Ваш код 1234', from: 'MyShop' })]);
    expect(await ctx.deps.worker.runOnce()).toBe(0);

    smsru.settle();
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 1, expired: 0 });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered', gateway_status: '103' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('fails a number SMS.ru rejects as invalid, with the gateway reason, and reports it', async () => {
    smsru.invalid.add('79991112233');
    const id = await postSms(ctx, fp, { to: '+79991112233' });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', gateway_status: '202', failure_reason: 'Неправильно указан номер телефона получателя' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('reports a number that could not be parsed at intake as failed, without calling the gateway', async () => {
    const id = await postSms(ctx, fp, { to: 'call me maybe' });
    expect(await ctx.deps.worker.runOnce()).toBe(0);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
    expect(smsru.stats.sendRequests).toBe(0);
  });

  it('waits while the gateway is down and sends every message exactly once after it recovers', async () => {
    const ids = [await postSms(ctx, fp, { to: '+79990000001' }), await postSms(ctx, fp, { to: '+79990000002' })];
    smsru.setMode('http503');
    await ctx.deps.worker.runOnce();
    for (const id of ids) expect(await messageRow(ctx, id)).toMatchObject({ state: 'queued', attempts: 1, next_attempt_at: now + 2000 });
    expect(await ctx.deps.worker.runOnce()).toBe(0); // not due yet: nothing sleeps, the delay is stored
    now += 2000;
    smsru.setMode('error220'); // "service temporarily unavailable" is retryable too
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, ids[0]!)).toMatchObject({ state: 'queued', attempts: 2, next_attempt_at: now + 4000, gateway_status: '220' });
    now += 4000;
    smsru.setMode('ok');
    expect(await ctx.deps.worker.runOnce()).toBe(2);
    for (const id of ids) expect((await messageRow(ctx, id)).state).toBe('sent');
    expect([sendsTo('79990000001'), sendsTo('79990000002')]).toEqual([1, 1]);
  });

  it('gives up on a retryable failure after the max age, as failed with the reason', async () => {
    const id = await postSms(ctx, fp);
    smsru.setMode('http503');
    await ctx.deps.worker.runOnce();
    now += 25 * 3_600_000;
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'gave up after 24 h of retries: SMS.ru answered HTTP 503' });
  });

  it('fails permanently on a key SMS.ru refuses', async () => {
    await ctx.deps.settings.save((await ctx.deps.portals.findByMemberId(fp.memberId))!.id, { provider: 'smsru', credentials: { api_key: 'revoked' } }, now);
    ctx.deps.accounts.forget((await ctx.deps.portals.findByMemberId(fp.memberId))!.id);
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', gateway_status: '200' });
  });

  it('after a crash between claim and send, the message is sent exactly once', async () => {
    const id = await postSms(ctx, fp);
    // A worker claimed it and died before handing it to the HTTP client.
    const [claimed] = await ctx.deps.queue.claim(now, 10, 120_000);
    expect(claimed?.b24_message_id).toBe(id);
    expect(await ctx.deps.worker.runOnce()).toBe(0); // the lease still holds
    now += 121_000;
    expect(await ctx.deps.worker.runOnce()).toBe(1); // reaped, then claimed again and sent
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
    expect(sendsTo('79991234567')).toBe(1);
  });

  it('after a crash with the send in flight, the message is never resent and ends failed "outcome unknown"', async () => {
    const id = await postSms(ctx, fp);
    smsru.setMode('hang');
    const dying = ctx.deps.worker.runOnce(); // this process "dies" with the request at SMS.ru
    while (smsru.messages.size === 0) await new Promise((r) => setTimeout(r, 5));
    const row = await messageRow(ctx, id);
    expect(row).toMatchObject({ state: 'sending' });
    expect(row.submitted_at).not.toBeNull();

    smsru.setMode('ok');
    now += 121_000; // the next process starts after the lease
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'outcome unknown: the worker stopped while the request was in flight' });
    smsru.dropHung();
    await dying; // the dead worker's late answer changes nothing
    expect((await messageRow(ctx, id)).state).toBe('failed');
    expect(sendsTo('79991234567')).toBe(1);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });
});

describe('statuses job', () => {
  it('polls in batches of at most 100 ids, and undeliverable numbers become undelivered', async () => {
    smsru.undeliverable.add('79990000013');
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) ids.push(await postSms(ctx, fp, { to: `+7999${String(i).padStart(7, '0')}` }));
    while ((await ctx.deps.worker.runOnce()) > 0);
    smsru.settle();
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 150, expired: 0 });
    expect(smsru.stats.statusIdsMax).toBe(100);
    expect(smsru.stats.statusRequests).toBe(2);
    expect(await messageRow(ctx, ids[13]!)).toMatchObject({ state: 'undelivered', gateway_status: '107' });
    expect(await messageRow(ctx, ids[14]!)).toMatchObject({ state: 'delivered' });
  });

  it('marks a message with no final status after STATUS_MAX_AGE undelivered, reason "expired"', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    now += 73 * 3_600_000;
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 0, expired: 1 });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'undelivered', failure_reason: 'expired' });
  });

  it('never moves a status backwards: a late "sent" after "delivered" is neither stored nor reported', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const row = await messageRow(ctx, id);
    expect(await ctx.deps.queue.advance(row.id, 'delivered', now)).toBe(true);
    expect(await ctx.deps.queue.advance(row.id, 'sent', now)).toBe(false);
    expect(await ctx.deps.queue.advance(row.id, 'undelivered', now)).toBe(false);
    expect((await messageRow(ctx, id)).state).toBe('delivered');
    await ctx.deps.reporter.runOnce();
    expect(fp.statusUpdates.filter((u) => u.MESSAGE_ID === id).map((u) => u.STATUS)).toEqual(['delivered']);
  });
});
