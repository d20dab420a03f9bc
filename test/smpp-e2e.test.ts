import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { installPortal } from './helpers/install.js';
import type { TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually, untilIdle } from './helpers/wait.js';
import { ESME, startSmscSimulator, type SmscSimulator } from './fakes/smsc-simulator.js';
import { startBackground } from '../src/runtime.js';
import { createSmppReceipts } from '../src/delivery/smpp-receipts.js';
import { createPartRepo } from '../src/delivery/part-repo.js';
import { createLogger } from '../src/platform/logger.js';

// A portal installed with `smpp` through the install page, SMS posted to /handler as Bitrix24 posts them, the worker
// stepped with runOnce, receipts sent by the simulator over the bind, and what the fake Bitrix24 ends up showing.
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;
let smsc: SmscSimulator;
let now: number;
let portalId: number;

async function setUp(o: { window?: string; simulator?: Parameters<typeof startSmscSimulator>[0]; env?: Record<string, string> } = {}) {
  now = Date.UTC(2026, 10, 22, 12);
  smsc = await startSmscSimulator({ idFormat: 'decimal', receiptIdFormat: 'hex', ...o.simulator });
  ({ fake, fp, ctx, close } = await installedPortal({
    clock: () => now, random: () => 0.5,
    env: { ALLOW_PRIVATE_GATEWAYS: '1', SMPP_RECONNECT_BASE: '50ms', SMPP_RECONNECT_CAP: '200ms', ...o.env },
    install: {
      provider: 'smpp', smpp_url: smsc.url, smpp_system_id: 'shop01', smpp_password: 'secret1', smpp_tps: '50', smpp_window: o.window ?? '10', sender: 'MyShop',
    },
  }));
  portalId = (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;
}
afterEach(async () => {
  await close?.();
  await smsc?.close();
});

const submitsTo = (digits: string) => smsc.submits.filter((s) => s.dest === digits && s.status === 0);

describe('SMPP end to end', () => {
  beforeEach(() => setUp());

  it('the install checked the account with a bind and an unbind, and saved it', async () => {
    expect(smsc.binds).toEqual([{ systemId: 'shop01', status: 0 }]);
    expect(smsc.stats.unbinds).toBe(1);
    expect(await ctx.deps.settings.get(portalId)).toMatchObject({
      gateway: 'smpp', credentials: { url: smsc.url, system_id: 'shop01', password: 'secret1', system_type: '', source_ton: '', source_npi: '', tps: '50', window: '10' },
    });
  });

  it('an SMS goes out as one submit_sm asking for a receipt; a receipt in the TLV form with a hex id settles a decimal one: delivered in Bitrix24', async () => {
    const id = await postSms(ctx, fp, { to: '+7 999 123-45-67', text: 'Your code is 1234' });
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    const [submit] = smsc.submits;
    expect(submit).toMatchObject({
      source: 'MyShop', sourceTon: 5, sourceNpi: 0, dest: '79991234567', destTon: 1, destNpi: 1, registeredDelivery: 1, dataCoding: 0, esmClass: 0, text: 'Your code is 1234',
    });
    expect(submit!.messageId).toMatch(/^\d+$/);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent', gateway: 'smpp', gateway_message_id: submit!.messageId, gateway_status: 'ESME_ROK', segments: 1, encoding: 'GSM-7' });

    // The receipt writes the id in hex: the client answers once the message is settled.
    expect(await smsc.receipt(submit!.messageId, 'DELIVRD', { to: '79991234567', form: 'tlv' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered', gateway_status: 'DELIVRD' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('a receipt in the text form (id:… stat:UNDELIV err:…) makes it undelivered in Bitrix24, with the reason', async () => {
    const id = await postSms(ctx, fp, { to: '+79991112233' });
    await ctx.deps.worker.runOnce();
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'UNDELIV', { to: '79991112233', form: 'text', err: '001' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'undelivered', failure_reason: 'not delivered: undeliverable (error 001)' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('undelivered');
  });

  it('ACCEPTD and ENROUTE change nothing; a repeated final receipt is absorbed', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const smscId = smsc.submits[0]!.messageId;
    expect(await smsc.receipt(smscId, 'ENROUTE', { to: '79991234567' })).toBe(0);
    expect(await smsc.receipt(smscId, 'ACCEPTD', { to: '79991234567' })).toBe(0);
    expect((await messageRow(ctx, id)).state).toBe('sent');
    expect(await smsc.receipt(smscId, 'DELIVRD', { to: '79991234567' })).toBe(0);
    expect(await smsc.receipt(smscId, 'UNDELIV', { to: '79991234567' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });

  it('a long Cyrillic text goes as UCS-2 parts with one UDH reference; the first part\'s receipt settles it, another part\'s is absorbed', async () => {
    const text = 'Здравствуйте! Ваш заказ №123 собран и передан в службу доставки. '.repeat(3);
    const id = await postSms(ctx, fp, { text });
    await ctx.deps.worker.runOnce();
    const parts = smsc.submits;
    expect(parts).toHaveLength(3);
    expect(parts.every((p) => p.dataCoding === 8 && p.esmClass === 0x40 && p.registeredDelivery === 1)).toBe(true);
    expect(new Set(parts.map((p) => p.udh!.ref)).size).toBe(1);
    expect(parts.map((p) => p.udh!.seq)).toEqual([1, 2, 3]);
    expect(smsc.messages()).toEqual([expect.objectContaining({ text, parts: 3 })]);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent', segments: 3, encoding: 'UCS-2', gateway_message_id: parts[0]!.messageId });

    expect(await smsc.receipt(parts[2]!.messageId, 'UNDELIV', { to: '79991234567' })).toBe(0);
    expect((await messageRow(ctx, id)).state).toBe('sent');
    expect(await smsc.receipt(parts[0]!.messageId, 'DELIVRD', { to: '79991234567', form: 'text' })).toBe(0);
    expect((await messageRow(ctx, id)).state).toBe('delivered');
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('ESME_RTHROTTLED: queued again with backoff, the account slows down, and it is sent once later', async () => {
    smsc.refuseNext(ESME.RTHROTTLED);
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const row = await messageRow(ctx, id);
    expect(row).toMatchObject({ state: 'queued', gateway_status: 'ESME_RTHROTTLED' });
    expect(Number(row.next_attempt_at)).toBeGreaterThan(now);
    expect(ctx.deps.smpp.peek(portalId)!.pace()).toBe(25);
    expect(await ctx.deps.worker.runOnce()).toBe(0); // nothing sleeps: the retry waits in the row
    now = Number(row.next_attempt_at);
    await ctx.deps.worker.runOnce();
    expect((await messageRow(ctx, id)).state).toBe('sent');
    expect(submitsTo('79991234567')).toHaveLength(1);
  });

  it('ESME_RMSGQFUL is retried later too; an invalid number or sender fails with the reason, shown failed in Bitrix24', async () => {
    smsc.refuseNext(ESME.RMSGQFUL);
    const full = await postSms(ctx, fp, { to: '+79990000001' });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, full)).toMatchObject({ state: 'queued', gateway_status: 'ESME_RMSGQFUL' });

    smsc.refuseNext(ESME.RINVDSTADR);
    const bad = await postSms(ctx, fp, { to: '+79990000002' });
    now += 60_000;
    await untilIdle(ctx.deps.worker); // one at a time: the account was told to slow down
    expect(await messageRow(ctx, bad)).toMatchObject({ state: 'failed', gateway_status: 'ESME_RINVDSTADR', failure_reason: 'the SMS centre refused the recipient number' });
    expect(await messageRow(ctx, full)).toMatchObject({ state: 'sent' });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(bad)).toBe('failed');
  });

  it('a bind refused for the password fails messages with the reason; ESME_RBINDFAIL only makes them wait', async () => {
    smsc.refuseBinds(ESME.RBINDFAIL);
    const waits = await postSms(ctx, fp, { to: '+79990000011' });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, waits)).toMatchObject({ state: 'queued', gateway_status: 'ESME_RBINDFAIL' });
    smsc.refuseBinds(ESME.RINVPASWD);
    const fails = await postSms(ctx, fp, { to: '+79990000012' });
    // The account binds again by itself after the backoff, and is refused for the password.
    await eventually(() => smsc.binds.at(-1)?.status === ESME.RINVPASWD, 'the next bind, refused');
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, fails)).toMatchObject({ state: 'failed', gateway_status: 'ESME_RINVPASWD', failure_reason: 'the SMS centre refused the password' });
    expect(smsc.submits).toHaveLength(0);
  });

  it('a second part refused for good fails the message, saying the first part was sent', async () => {
    smsc.refuseNext(ESME.ROK);
    smsc.refuseNext(ESME.RSUBMITFAIL);
    const id = await postSms(ctx, fp, { text: 'x'.repeat(200) });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({
      state: 'failed', gateway_status: 'ESME_RSUBMITFAIL', failure_reason: 'part 2 of 2 was not sent: the SMS centre refused the message (submit failed) (the first 1 part was sent)',
    });
  });

  it('after a drop, a receipt for the number that does not quote the text settles nothing (it may be another sender\'s on a shared account)', async () => {
    smsc.dropOnNext();
    const id = await postSms(ctx, fp, { to: '+79995550012' });
    await ctx.deps.worker.runOnce();
    await eventually(() => smsc.boundSessions() === 1, 'the account to bind again');
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'DELIVRD', { to: '79995550012', form: 'tlv' })).toBe(0);
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'DELIVRD', { to: '79995550012', excerpt: 'Something else' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', gateway_status: 'SMPP_DROPPED' });
  });

  it('a connection dropped after the submit went out: unknown outcome, never resent; after the reconnect a receipt for the number settles it', async () => {
    smsc.dropOnNext();
    const id = await postSms(ctx, fp, { to: '+79995550011' });
    await ctx.deps.worker.runOnce();
    const row = await messageRow(ctx, id);
    expect(row).toMatchObject({ state: 'sending', gateway_status: 'SMPP_DROPPED' });
    expect(row.unknown_since).not.toBeNull();
    expect(row.gateway_status_text).toMatch(/^outcome unknown: /);
    now += 60_000;
    expect(await ctx.deps.worker.runOnce()).toBe(0);

    // The centre had taken it; its receipt comes over the new bind, with an id this service never heard.
    await eventually(() => smsc.boundSessions() === 1, 'the account to bind again');
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'DELIVRD', { to: '79995550011', excerpt: 'Hello' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered', gateway_message_id: expect.any(String) });
    expect(submitsTo('79995550011')).toHaveLength(1);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('delivered');
  });

  it('an unknown outcome that nothing settles ends failed "outcome unknown" after UNKNOWN_OUTCOME_WINDOW', async () => {
    smsc.holdNext();
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce(); // GATEWAY_TIMEOUT_MS (2 s in tests) without an answer
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', gateway_status: 'SMPP_TIMEOUT' });
    now += 16 * 60_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: expect.stringMatching(/^outcome unknown: /) });
    expect(submitsTo('79991234567')).toHaveLength(1);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('an answer that comes after the timeout settles the unknown outcome as sent, and its receipt then delivers it', async () => {
    smsc.answerLate(2_500);
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', gateway_status: 'SMPP_TIMEOUT' });
    await eventually(async () => (await messageRow(ctx, id)).state === 'sent', 'the late answer', 5_000);
    const smscId = smsc.submits[0]!.messageId;
    expect(await messageRow(ctx, id)).toMatchObject({ gateway_message_id: smscId, gateway_status: 'ESME_ROK' });
    expect(await smsc.receipt(smscId, 'DELIVRD', { to: '79991234567' })).toBe(0);
    expect((await messageRow(ctx, id)).state).toBe('delivered');
  });

  // A late refusal that only means "not now" (gateways.md §6: retry later) says the centre did not take the message:
  // sending it again is safe, failing it is not what the customer wants.
  for (const [name, status] of [['ESME_RMSGQFUL', ESME.RMSGQFUL], ['ESME_RTHROTTLED', ESME.RTHROTTLED]] as const) {
    it(`a late ${name} answer to an unknown outcome puts the message back in the queue with backoff; it is sent once later, not failed`, async () => {
      smsc.answerLate(2_500, status);
      const id = await postSms(ctx, fp, { to: '+79991234567', text: 'Your code is 1234' });
      await ctx.deps.worker.runOnce(); // GATEWAY_TIMEOUT_MS (2 s in tests) without an answer
      expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', gateway_status: 'SMPP_TIMEOUT' });
      await eventually(async () => (await messageRow(ctx, id)).gateway_status !== 'SMPP_TIMEOUT', 'the late answer', 5_000);
      const row = await messageRow(ctx, id);
      expect(row).toMatchObject({ state: 'queued', gateway_status: name, unknown_since: null });
      expect(Number(row.next_attempt_at)).toBeGreaterThan(now);
      expect(ctx.deps.smpp.peek(portalId)!.pace()).toBe(25); // the centre asked for less
      expect(await ctx.deps.worker.runOnce()).toBe(0); // the retry waits in the row
      now = Number(row.next_attempt_at);
      await ctx.deps.worker.runOnce();
      expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
      expect(submitsTo('79991234567')).toHaveLength(1);
    });
  }

  it('a late permanent refusal (ESME_RINVDSTADR) of an unknown outcome fails it with the refusal', async () => {
    smsc.answerLate(2_500, ESME.RINVDSTADR);
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    await eventually(async () => (await messageRow(ctx, id)).state !== 'sending', 'the late answer', 5_000);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', gateway_status: 'ESME_RINVDSTADR', failure_reason: 'the SMS centre refused the recipient number' });
  });

  it('receipts that arrive after a reconnect for settled messages, or for ids nobody knows, are answered and change nothing', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const smscId = smsc.submits[0]!.messageId;
    await smsc.receipt(smscId, 'DELIVRD', { to: '79991234567' });
    smsc.dropAll();
    await eventually(() => smsc.boundSessions() === 1 && smsc.binds.length === 3, 'the bind again');
    expect(await smsc.receipt(smscId, 'DELIVRD', { to: '79991234567' })).toBe(0);
    expect(await smsc.receipt('99999999', 'UNDELIV', { to: '79990009999' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
    expect(smsc.stats.deliverResps.every((s) => s === 0)).toBe(true);
  });

  it('a receipt that comes before the submit\'s answer (another process\'s bind, or a centre in a hurry) is looked up again and still settles the message', async () => {
    smsc.holdNext();
    const id = await postSms(ctx, fp, { to: '+79991234567', text: 'Your code is 1234' });
    const sending = ctx.deps.worker.runOnce();
    await eventually(() => smsc.submits.length === 1, 'the submit to reach the centre');
    // The centre sends the receipt before it answers the submit: nothing knows its id yet.
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'DELIVRD', { to: '79991234567' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending' });
    smsc.release();
    await sending;
    // (On a slow machine the first retry, ~2 s after the receipt, may have come already.)
    expect(await messageRow(ctx, id)).toMatchObject({ state: expect.stringMatching(/^(sent|delivered)$/), gateway_message_id: smsc.submits[0]!.messageId });
    // Looked up again ~2 s later: delivered, and Bitrix24 is told.
    await eventually(async () => (await messageRow(ctx, id)).state === 'delivered', 'the receipt to be looked up again', 20_000);
    await untilIdle(ctx.deps.reporter);
    expect(fp.shown.get(id)).toBe('delivered');
    expect(smsc.submits).toHaveLength(1);
  });

  it('an unmatched receipt is looked up again twice, then only noted; at most 100 wait for one portal', async () => {
    const tries: Array<() => void> = [];
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l).msg) });
    const sink = createSmppReceipts({ queue: ctx.deps.queue, parts: createPartRepo(ctx.db), clock: () => now, log, later: (_ms, run) => void tries.push(run) });
    const r = { id: '77777777', status: { state: 'delivered' as const, code: 'DELIVRD', text: 'delivered' }, handset: '79990001111' };
    await sink.receipt(portalId, r);
    expect(tries).toHaveLength(1);
    tries.shift()!();
    await eventually(() => tries.length === 1, 'the second try to be planned', 5_000);
    tries.shift()!();
    await eventually(() => lines.includes('smpp.receipt.unmatched'), 'the receipt to be noted unmatched', 5_000);
    expect(tries).toHaveLength(0);
    // A centre sending ids nobody knows holds its own portal's places only: another portal's receipt still waits.
    for (let i = 0; i < 101; i++) await sink.receipt(portalId, { ...r, id: String(80000000 + i) });
    expect(tries).toHaveLength(100);
    expect(lines.filter((l) => l === 'smpp.receipt.unmatched')).toHaveLength(2);
    await sink.receipt(portalId + 1, { ...r, id: '90000000' });
    expect(tries).toHaveLength(101);
  });

  it('two portals on one SMPP account: a receipt the centre sends over the other portal\'s bind still settles the message', async () => {
    const other = await fake.addPortal();
    await installPortal(ctx, fake, other, {
      provider: 'smpp', smpp_url: smsc.url, smpp_system_id: 'shop01', smpp_password: 'secret1', smpp_tps: '50', smpp_window: '10', sender: 'MyShop',
    });
    const sent = [
      { portal: fp, id: await postSms(ctx, fp, { to: '+79990000001', text: 'from the first portal' }), to: '79990000001' },
      { portal: other, id: await postSms(ctx, other, { to: '+79990000002', text: 'from the second portal' }), to: '79990000002' },
    ];
    await untilIdle(ctx.deps.worker);
    // Each portal has binds of its own to the account; the centre sends every receipt over the same one of them.
    expect(smsc.boundSessions('shop01')).toBeGreaterThanOrEqual(2);
    for (const m of sent) expect(await smsc.receipt(submitsTo(m.to)[0]!.messageId, 'DELIVRD', { to: m.to, form: 'tlv' })).toBe(0);
    for (const m of sent) expect(await messageRow(ctx, m.id)).toMatchObject({ state: 'delivered', gateway_status: 'DELIVRD' });
    await untilIdle(ctx.deps.reporter);
    for (const m of sent) expect(m.portal.shown.get(m.id)).toBe('delivered');

    // The second portal's connection drops after a submit went out; the receipt, with an id never heard, comes over
    // the first portal's bind (the second's is gone or newer) and still settles it by its number and text.
    smsc.dropOnNext();
    const lost = await postSms(ctx, other, { to: '+79990000003', text: 'Lost answer of the second portal' });
    await untilIdle(ctx.deps.worker);
    expect(await messageRow(ctx, lost)).toMatchObject({ state: 'sending', gateway_status: 'SMPP_DROPPED' });
    expect(await smsc.receipt(submitsTo('79990000003')[0]!.messageId, 'DELIVRD', { to: '79990000003', excerpt: 'Lost answer' })).toBe(0);
    expect(await messageRow(ctx, lost)).toMatchObject({ state: 'delivered' });
    expect(submitsTo('79990000003')).toHaveLength(1);
  });

  it('the graceful stop lets the worker finish, then unbinds', async () => {
    const stop = startBackground(ctx.deps);
    const id = await postSms(ctx, fp);
    await eventually(async () => (await messageRow(ctx, id)).state === 'sent', 'the SMS sent by the running worker', 10_000);
    expect(smsc.boundSessions()).toBe(1);
    await stop();
    expect(smsc.stats.unbinds).toBe(2); // the install's check, and now the worker's bind
    await eventually(() => smsc.boundSessions() === 0, 'no bind left');
  });

  it('an incoming SMS is answered and stored nowhere', async () => {
    await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const rows = await ctx.db('messages').count({ n: '*' });
    expect(await smsc.incoming('79991234567', 'MyShop', 'STOP')).toBe(0);
    expect(await ctx.db('messages').count({ n: '*' })).toEqual(rows);
  });
});

describe('a centre that floods receipts', () => {
  beforeEach(() => setUp());

  it('the flood is answered ESME_RX_T_APPN past the first ones, other SMS still go out meanwhile, and the receipts it sends again are applied: delivered in Bitrix24', async () => {
    const ids = [await postSms(ctx, fp, { to: '+79990000101' }), await postSms(ctx, fp, { to: '+79990000102' })];
    await ctx.deps.worker.runOnce();
    const sent = [...smsc.submits];
    expect(sent).toHaveLength(2);
    const delivered = (s: (typeof sent)[number]) => smsc.receipt(s.messageId, 'DELIVRD', { to: s.dest, form: 'tlv' });

    // 20,000 receipts for ids this service never gave, then the two real ones, all written at once.
    const junk = Array.from({ length: 20_000 }, (_, i) => smsc.receipt(String(900_000_000 + i * 7919), 'UNDELIV', { to: '79990009999', form: 'tlv' }));
    const real = sent.map(delivered);
    // Meanwhile the bind still sends: another SMS is accepted by the centre.
    const other = await postSms(ctx, fp, { to: '+79990000103' });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, other)).toMatchObject({ state: 'sent' });

    const answers = await Promise.all([...junk, ...real]);
    expect(answers.every((s) => s === ESME.ROK || s === ESME.RX_T_APPN)).toBe(true);
    expect(answers.filter((s) => s === ESME.RX_T_APPN).length).toBeGreaterThan(0);
    // A centre sends again what it was told to (later): each real receipt until it is taken.
    let again = sent.filter((_, i) => answers[junk.length + i] !== ESME.ROK);
    await eventually(async () => {
      const retried = await Promise.all(again.map(delivered));
      again = again.filter((_, i) => retried[i] !== ESME.ROK);
      return again.length === 0;
    }, 'the real receipts taken', 10_000);
    for (const id of ids) expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered', gateway_status: 'DELIVRD' });
    await ctx.deps.reporter.runOnce();
    expect(ids.map((id) => fp.shown.get(id))).toEqual(['delivered', 'delivered']);
  });
});

describe('ids written the other way round', () => {
  it('an id hex in submit_sm_resp and decimal in the receipt (text form) finds its message too', async () => {
    await setUp({ simulator: { idFormat: 'hex', receiptIdFormat: 'decimal' } });
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const smscId = smsc.submits[0]!.messageId;
    expect(smscId).toMatch(/^[0-9A-F]{8}$/);
    expect(await smsc.receipt(smscId, 'EXPIRED', { to: '79991234567', form: 'text' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'undelivered', gateway_status: 'EXPIRED', gateway_message_id: smscId });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('undelivered');
  });
});

describe('SMPP windowing', () => {
  it('more unanswered submits than the centre\'s window are refused by it (ESME_RTHROTTLED): those wait and go once, later', async () => {
    await setUp({ window: '5', simulator: { window: 2 } }); // the account says 5, the centre allows 2
    const ids = await Promise.all([1, 2, 3, 4, 5].map((i) => postSms(ctx, fp, { to: `+7999000000${i}` })));
    smsc.holdNext(2);
    const run = ctx.deps.worker.runOnce();
    await eventually(() => smsc.held() === 2 && smsc.stats.windowOverflows === 3, 'two held, three refused');
    smsc.release();
    await run;
    const states = await Promise.all(ids.map(async (id) => (await messageRow(ctx, id)).state));
    expect(states.filter((s) => s === 'sent')).toHaveLength(2);
    expect(states.filter((s) => s === 'queued')).toHaveLength(3);
    for (let step = 0; step < 5 && (await ctx.db('messages').where({ state: 'queued' }).count({ n: '*' }))[0]!.n != 0; step++) {
      now += 60_000;
      await ctx.deps.worker.runOnce();
    }
    for (const id of ids) expect((await messageRow(ctx, id)).state).toBe('sent');
    for (let i = 1; i <= 5; i++) expect(submitsTo(`7999000000${i}`)).toHaveLength(1);
  });
});

describe('the statuses job and a slow SMS centre', () => {
  beforeEach(() => setUp({ env: { GATEWAY_TIMEOUT_MS: '60000' } }));

  it('does not wait for an account whose bind is slow: it starts the bind and goes on (other portals are not held up); a receipt over that bind still settles the message', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
    smsc.holdBinds(true);
    smsc.dropAll(); // the link drops; every bind from now on hangs until the centre answers
    await eventually(() => smsc.heldBinds() > 0, 'the account to try binding again', 10_000);
    const run = ctx.deps.statusesJob.runOnce().then(() => 'done');
    const bound = new Promise((r) => setTimeout(() => r('still waiting'), 10_000));
    expect(await Promise.race([run, bound])).toBe('done');
    expect(smsc.heldBinds()).toBeGreaterThan(0); // finished while the centre had not answered the bind
    smsc.holdBinds(false);
    await eventually(() => smsc.boundSessions('shop01') > 0, 'the account to be bound again');
    expect(await smsc.receipt(smsc.submits[0]!.messageId, 'DELIVRD', { to: '79991234567' })).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });
});
