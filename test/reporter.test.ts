import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import { createTestContext, PUBLIC_URL, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually, untilIdle } from './helpers/wait.js';
import { buildDeps } from '../src/deps.js';
import { createLogger } from '../src/platform/logger.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { dlrMessageToken, dlrToken } from '../src/delivery/dlr-url.js';
import type { Portal } from '../src/portals/portal-repo.js';

let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let now: number;

beforeEach(async () => {
  now = Date.UTC(2026, 10, 22, 12);
  ({ fake, fp, ctx, portal, smsru, close } = await installedPortal({
    smsru: { keys: { 'good-key': 77.25 } }, clock: () => now, random: () => 0.5, install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' },
  }));
});
afterEach(() => close());

async function deliverAll(n: number) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await postSms(ctx, fp, { to: `+7999${String(i).padStart(7, '0')}` }));
  await untilIdle(ctx.deps.worker);
  smsru.settle();
  await ctx.deps.statusesJob.runOnce();
  return ids;
}
const batchCalls = () => fp.calls.filter((c) => c.method === 'batch').length;

describe('status reports to Bitrix24', () => {
  it('groups reports into batch calls of up to 50', async () => {
    const ids = await deliverAll(120);
    fp.calls.length = 0;
    await ctx.deps.reporter.runOnce();
    expect(batchCalls()).toBe(3);
    expect(ids.every((id) => fp.shown.get(id) === 'delivered')).toBe(true);
    expect(fp.statusUpdates.every((u) => u.CODE === 'smsgw_myshop')).toBe(true);
    expect(await ctx.deps.reports.backlog()).toBe(0);
  });

  it('fills batches of 50 at once and holds a smaller remainder for REPORT_LINGER', async () => {
    const lingering = await createTestContext({ fake, smsru, clock: () => now, random: () => 0.5, env: { REPORT_LINGER: '1s' } });
    try {
      const other = await fake.addPortal();
      await installPortal(lingering, fake, other, { provider: 'smsru', api_key: 'good-key', sender: 'Other' });
      for (let i = 0; i < 60; i++) await postSms(lingering, other, { to: `+7999${String(i).padStart(7, '0')}` });
      await untilIdle(lingering.deps.worker);
      smsru.settle();
      await lingering.deps.statusesJob.runOnce();
      expect(await lingering.deps.reporter.runOnce()).toBe(50);
      now += 999;
      expect(await lingering.deps.reporter.runOnce()).toBe(0);
      now += 1;
      expect(await lingering.deps.reporter.runOnce()).toBe(10);
      expect(other.calls.filter((c) => c.method === 'batch')).toHaveLength(2);
    } finally {
      await lingering.close();
    }
  });

  it('reports each portal from one process at a time: a second process leaves a portal alone while the first is at it', async () => {
    const ids = await deliverAll(110);
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now, random: () => 0.5 });
    // 50 of the reports come due only once the first process is at the portal's others.
    const later = (await ctx.db('status_reports').orderBy('id').pluck('id')).slice(60);
    await ctx.db('status_reports').whereIn('id', later).update({ next_attempt_at: now + 3_600_000 });
    fp.delayNext.push(2000); // the first process's first batch call is slow to answer (under the client's 3 s timeout)
    const running = ctx.deps.reporter.runOnce();
    await eventually(() => fp.delayNext.length === 0, 'the first batch call to reach Bitrix24', 5_000);
    await ctx.db('status_reports').whereIn('id', later).update({ next_attempt_at: now });
    expect(await other.reporter.runOnce()).toBe(0); // the portal is the first process's until it is done
    expect(await running).toBe(60);
    expect(await other.reporter.runOnce()).toBe(50);
    expect(ids.every((id) => fp.shown.get(id) === 'delivered')).toBe(true);
    expect(fp.statusUpdates).toHaveLength(110); // each once
    await Promise.all([other.worker.stop(), other.reporter.stop()]);
  });

  it('keeps reports while Bitrix24 answers 503, and delivers them afterwards', async () => {
    const ids = await deliverAll(3);
    for (let i = 0; i < 5; i++) fp.failNext.push({ status: 503, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'down' } });
    await ctx.deps.reporter.runOnce();
    expect(fp.statusUpdates).toHaveLength(0);
    expect(await ctx.deps.reports.backlog()).toBe(3);
    expect(await ctx.deps.reporter.runOnce()).toBe(0); // not due yet
    now += 2500;
    await ctx.deps.reporter.runOnce();
    expect(ids.map((id) => fp.shown.get(id))).toEqual(['delivered', 'delivered', 'delivered']);
    expect(await ctx.deps.reports.backlog()).toBe(0);
  });

  it('a report that reaches Bitrix24 before it recorded the message (ERROR_MESSAGE_NOT_FOUND in its first minutes) is tried again and lands', async () => {
    const [early] = await deliverAll(1);
    fp.purged.add(early!); // not in Bitrix24's table yet
    await ctx.deps.reporter.runOnce();
    expect(await ctx.db('status_reports').where({ b24_message_id: early }).first()).toMatchObject({ outcome: 'pending', last_error: 'transient error' });
    fp.purged.delete(early!); // recorded now
    now += 60_000;
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(early!)).toBe('delivered');
  });

  it('one report that makes Bitrix24 fail the whole batch (500) holds the other 49 back for two tries only: then they go, and it waits alone', async () => {
    const ids = await deliverAll(50);
    const poison = ids[17]!;
    fp.crashingMessages.add(poison);
    const pass = async () => {
      now += 60 * 60_000;
      await ctx.db('status_reports').where({ outcome: 'pending' }).update({ next_attempt_at: now });
      const before = batchCalls();
      await ctx.deps.reporter.runOnce({ flush: true });
      return batchCalls() - before;
    };
    // Whole batches, failed (each call tried 5 times by the REST client on a 5xx); the commands before the one that
    // failed ran (a batch is no transaction), but the answer says nothing of them: all 50 still to report.
    expect([await pass(), await pass()]).toEqual([5, 5]);
    expect(await ctx.db('status_reports').where({ outcome: 'pending' })).toHaveLength(50);
    expect(ids.filter((id) => fp.shown.get(id) === 'delivered').length).toBeLessThan(49);
    const calls = await pass(); // the third try halves it until the one that fails is alone: ~3 calls a level, 6 levels
    expect(calls).toBeLessThanOrEqual(5 * 3 * 6);
    expect(ids.filter((id) => fp.shown.get(id) === 'delivered')).toEqual(ids.filter((id) => id !== poison));
    expect(await ctx.db('status_reports').where({ b24_message_id: poison }).first()).toMatchObject({ outcome: 'pending' });
  });

  it('when Bitrix24 fails every call, a third try costs three calls (the batch and its two halves), not a split all the way down', async () => {
    await deliverAll(50);
    fp.failNext.push(...Array.from({ length: 100 }, () => ({ status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'boom' } })));
    for (let i = 0; i < 3; i++) {
      now += 60 * 60_000;
      await ctx.db('status_reports').where({ outcome: 'pending' }).update({ next_attempt_at: now });
      await ctx.deps.reporter.runOnce({ flush: true });
    }
    // Each call is retried by the REST client on a 5xx (4 retries): 5 requests per call, 3 + 3 + 3×... calls.
    expect(100 - fp.failNext.length).toBe(5 * (1 + 1 + 3));
    expect(await ctx.db('status_reports').where({ outcome: 'pending' })).toHaveLength(50);
  });

  it('records and drops ERROR_MESSAGE_NOT_FOUND (purged by Bitrix24) instead of retrying it', async () => {
    const [gone, kept] = await deliverAll(2);
    fp.purged.add(gone!);
    now += 6 * 60_000; // past the minutes in which Bitrix24 may not have recorded it yet
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce();
    const rows = await ctx.db('status_reports').orderBy('id');
    expect(rows.map((r) => [r.b24_message_id, r.outcome])).toEqual([[gone, 'dropped'], [kept, 'reported']]);
    expect(rows[0].last_error).toMatch(/^ERROR_MESSAGE_NOT_FOUND/);
    now += 3_600_000;
    fp.calls.length = 0;
    await ctx.deps.reporter.runOnce();
    expect(batchCalls()).toBe(0);
  });

  it('keeps reports of an inactive portal for later, but drops those of a portal that uninstalled the app', async () => {
    const [a] = await deliverAll(1);
    await ctx.deps.portals.markInactive(portal.id, 'PAYMENT_REQUIRED: Payment required', now);
    await ctx.deps.reporter.runOnce();
    expect((await ctx.db('status_reports').first()).outcome).toBe('pending');
    await ctx.deps.portals.markUninstalled(portal.id, false, now);
    now += 10 * 60_000;
    await ctx.deps.reporter.runOnce();
    expect(await ctx.db('status_reports').first()).toMatchObject({ outcome: 'dropped', last_error: 'PORTAL_UNINSTALLED' });
    expect(fp.shown.get(a!)).toBe('sent');
  });

  it('shows sent, retried and dropped reports and the backlog in /metrics', async () => {
    const [gone] = await deliverAll(2);
    fp.purged.add(gone!);
    now += 6 * 60_000; // purged, not just unrecorded yet
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce();
    const text = (await request(ctx.app).get('/metrics')).text;
    expect(text).toContain('sms_status_reports_total{outcome="reported"} 1');
    expect(text).toContain('sms_status_reports_total{outcome="dropped"} 1');
    expect(text).toContain('sms_status_reports_pending 0');
    // Final states are counted as they happen (the gauge covers only live states).
    expect(text).toMatch(/sms_messages_final_total\{state="delivered",gateway="smsru"\} 2/);
    expect(text).toMatch(/b24_rest_calls_total\{method="batch",outcome="ok"\} 1/);
    expect(text).toMatch(/sms_gateway_send_duration_seconds_count\{gateway="smsru"\} 2/);
    expect(text).toMatch(/sms_handler_duration_seconds_count\{status="200"\} 2/);
  });
});

describe('delivery callbacks', () => {
  it('SMS.ru: the install registers our callback; a signed callback settles statuses at once and gets "100"', async () => {
    const url = `${PUBLIC_URL}/dlr/smsru/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}`;
    expect(smsru.callbacks.get('good-key')).toEqual([url]);
    smsru.undeliverable.add('79990000001');
    const [a, b] = [await postSms(ctx, fp, { to: '+79990000000' }), await postSms(ctx, fp, { to: '+79990000001' })];
    await ctx.deps.worker.runOnce();
    const settled = smsru.settle();
    const data = settled.map((m, i) => [`data[${i + 1}]`, `sms_status\n${m.id}\n${m.status}\n1790000000`]);
    const { createHash } = await import('node:crypto');
    const all = [`test\n1790000000`, ...data.map(([, v]) => v!)];
    const hash = createHash('sha256').update('good-key' + all.join('')).digest('hex');
    const body = Object.fromEntries([['data[0]', all[0]!], ...data, ['hash', hash]]);
    const path = new URL(url).pathname;
    const res = await request(ctx.app).post(path).type('form').send(body);
    expect(res.status).toBe(200);
    expect(res.text).toBe('100');
    expect((await messageRow(ctx, a)).state).toBe('delivered');
    expect((await messageRow(ctx, b)).state).toBe('undelivered');
    // Records repeat: the same callback again changes nothing.
    expect((await request(ctx.app).post(path).type('form').send(body)).text).toBe('100');
  });

  it('SMS.ru: a forged hash or a wrong portal secret gets 401 and changes nothing', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const m = smsru.settle()[0]!;
    const body = { 'data[0]': `sms_status\n${m.id}\n103\n1790000000`, hash: 'f'.repeat(64) };
    expect((await request(ctx.app).post(`/dlr/smsru/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}`).type('form').send(body)).status).toBe(401);
    expect((await request(ctx.app).post(`/dlr/smsru/${portal.id}/wrongsecret`).type('form').send(body)).status).toBe(401);
    expect((await messageRow(ctx, id)).state).toBe('sent');
  });

  it('Kannel: a report for an unknown message is 404, a forged secret or another portal\'s is 401', async () => {
    const id = await postSms(ctx, fp);
    const row = await messageRow(ctx, id);
    await ctx.db('messages').where({ id: row.id }).update({ state: 'sending', gateway: 'kannel', unknown_since: now }); // an unknown outcome at Kannel
    const token = dlrToken(ctx.deps.crypto, portal.id);
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}/${token}/999999?type=1`)).status).toBe(404);
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}/nottheone/${row.id}?type=1`)).status).toBe(401);
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id + 1}/${token}/${row.id}?type=1`)).status).toBe(401);
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}/${token}/${row.id}?type=77`)).status).toBe(400);
    expect((await messageRow(ctx, id)).state).toBe('sending');
  });

  it("Kannel: with its own portal's secret, a tenant cannot tell another portal's messages from missing ones (404 both)", async () => {
    const other = await fake.addPortal();
    await installPortal(ctx, fake, other, { provider: 'smsru', api_key: 'good-key', sender: 'Other' });
    const theirs = await postSms(ctx, other);
    await ctx.deps.worker.runOnce();
    await ctx.db('messages').where({ b24_message_id: theirs }).update({ gateway: 'kannel' });
    const row = await messageRow(ctx, theirs);
    expect(row.dlr_token_v).toBe(2); // sent with a secret of its own
    const mine = dlrToken(ctx.deps.crypto, portal.id);
    const probe = (id: number) => request(ctx.app).get(`/dlr/kannel/${portal.id}/${mine}/${id}?type=1`);
    expect([(await probe(row.id)).status, (await probe(row.id + 1000)).status]).toEqual([404, 404]);
    expect((await messageRow(ctx, theirs)).state).toBe('sent');
  });

  it("Kannel: a message sent with its own report secret is settled by that secret only, not by the portal's or another message's", async () => {
    const [a, b] = [await postSms(ctx, fp), await postSms(ctx, fp)];
    await ctx.deps.worker.runOnce();
    await ctx.db('messages').whereIn('b24_message_id', [a, b]).update({ gateway: 'kannel' }); // as Kannel would have taken them
    const [ra, rb] = [await messageRow(ctx, a), await messageRow(ctx, b)];
    expect(ra.dlr_token_v).toBe(2);
    const report = (token: string, id: number) => request(ctx.app).get(`/dlr/kannel/${portal.id}/${token}/${id}?type=2`);
    // The portal's secret (in the account's URL at SMS.ru, and in the URLs a Kannel used before was given), and
    // message b's secret (seen by whoever saw b's URL): neither settles a.
    expect((await report(dlrToken(ctx.deps.crypto, portal.id), ra.id)).status).toBe(401);
    expect((await report(dlrMessageToken(ctx.deps.crypto, portal.id, rb.id), ra.id)).status).toBe(401);
    expect((await messageRow(ctx, a)).state).toBe('sent');
    expect((await report(dlrMessageToken(ctx.deps.crypto, portal.id, ra.id), ra.id)).text).toBe('ok');
    expect((await messageRow(ctx, a)).state).toBe('undelivered');
    // A message sent before messages had secrets of their own (its URL carries the portal's) is still settled so.
    await ctx.db('messages').where({ id: rb.id }).update({ dlr_token_v: null });
    expect((await report(dlrToken(ctx.deps.crypto, portal.id), rb.id)).text).toBe('ok');
    expect((await messageRow(ctx, b)).state).toBe('undelivered');
  });

  it('Kannel: a report for a message that another gateway took, is taking, or that was never sent, is 404 and changes nothing', async () => {
    const sent = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    const waiting = await postSms(ctx, fp);
    const inFlight = await postSms(ctx, fp);
    // Claimed by a worker, its request to SMS.ru not answered yet: no gateway on the row yet. The portal's secret
    // is known to a Kannel it used before; that Kannel must not settle it.
    await ctx.db('messages').where({ id: (await messageRow(ctx, inFlight)).id }).update({ state: 'sending', lease_token: 'x', lease_until: now + 60_000 });
    for (const id of [sent, waiting, inFlight]) {
      const row = await messageRow(ctx, id);
      const res = await request(ctx.app).get(`/dlr/kannel/${portal.id}/${dlrMessageToken(ctx.deps.crypto, portal.id, row.id)}/${row.id}?type=1`);
      expect(res.status).toBe(404);
    }
    // Nor does the portal's secret settle one being claimed: its URL is not out yet.
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}/${(await messageRow(ctx, inFlight)).id}?type=1`)).status).toBe(401);
    expect((await messageRow(ctx, sent)).state).toBe('sent'); // SMS.ru's to settle
    expect((await messageRow(ctx, waiting)).state).toBe('queued');
    expect((await messageRow(ctx, inFlight)).state).toBe('sending');
  });

  it('Kannel: reports are answered off express with the same headers and JSON errors as every route', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    // As the worker leaves a message Kannel took (this file's portal sends through SMS.ru).
    await ctx.db('messages').where({ id: (await messageRow(ctx, id)).id }).update({ gateway: 'kannel' });
    const row = await messageRow(ctx, id);
    const base = `/dlr/kannel/${portal.id}/${dlrMessageToken(ctx.deps.crypto, portal.id, row.id)}/${row.id}`;
    const missing = await request(ctx.app).get(`/dlr/kannel/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}/999999?type=1`);
    expect(missing.body).toEqual({ error: 'not_found', message: 'no such message' });
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    // A type given twice is no type; no type is named as such.
    const twice = await request(ctx.app).get(`${base}?type=1&type=2`);
    expect(twice.status).toBe(400);
    expect(twice.body.message).toMatch(/no DLR type/);
    expect((await request(ctx.app).get(`${base}?type=abc`)).body.message).toBe('unknown DLR type abc');
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}/%E0%A4%A/${row.id}?type=1`)).status).toBe(400);
    expect((await messageRow(ctx, id)).state).toBe('sent');
    // Kannel's own form: GET, type=%d, reply=%A; any method is taken, as before.
    const ok = await request(ctx.app).post(`${base}?type=1&reply=${encodeURIComponent('id:1 stat:DELIVRD')}`).type('form').send('ignored=1');
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('ok');
    expect(ok.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(ok.headers['content-security-policy']).toContain("default-src 'none'");
    expect((await messageRow(ctx, id)).state).toBe('delivered');
    // As express matched it: a trailing slash, another case, HEAD.
    expect((await request(ctx.app).head(`${base}?type=1`)).status).toBe(200);
    expect((await request(ctx.app).get(`${base}/?type=1`)).text).toBe('ok');
    expect((await request(ctx.app).get(`${base.replace('/dlr/kannel/', '/DLR/Kannel/')}?type=1`)).text).toBe('ok');
    // Another path under /dlr/kannel is not a report: express answers it (404, no route).
    expect((await request(ctx.app).get(`/dlr/kannel/${portal.id}`)).body.error).toBe('not_found');
  });
});
