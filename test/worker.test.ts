import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import type { TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually, untilIdle } from './helpers/wait.js';
import { startFakeKannel } from './fakes/kannel.js';
import { buildDeps } from '../src/deps.js';
import { createLeases } from '../src/platform/leases.js';
import { createLogger } from '../src/platform/logger.js';
import { TEST_SECRET_KEY } from './helpers/app.js';

let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: TestContext;
let close: () => Promise<void>;
let now: number;

beforeEach(async () => {
  now = Date.UTC(2026, 10, 22, 12);
  ({ fake, fp, ctx, smsru, close } = await installedPortal({
    smsru: { keys: { 'good-key': 512.5 } }, clock: () => now, random: () => 0.5, env: { ALLOW_PRIVATE_GATEWAYS: '1' },
    install: { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' },
  }));
});
afterEach(() => close());

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
    // A firewall in front of SMS.ru refuses with a page of its own: the API never saw the request, so it is no
    // unknown outcome (which would fail the messages unsent) but a retry.
    smsru.setMode('waf403');
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, ids[0]!)).toMatchObject({ state: 'queued', attempts: 3, next_attempt_at: now + 8000, gateway_status: 'HTTP_403' });
    now += 8000;
    // The same with HTTP 200 (a browser check's page): no API answered, so no unknown outcome either.
    smsru.setMode('waf200');
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, ids[0]!)).toMatchObject({ state: 'queued', attempts: 4, next_attempt_at: now + 16000, gateway_status: 'HTTP_200' });
    now += 16000;
    smsru.setMode('ok');
    expect(await ctx.deps.worker.runOnce()).toBe(2);
    for (const id of ids) expect((await messageRow(ctx, id)).state).toBe('sent');
    expect([sendsTo('79990000001'), sendsTo('79990000002')]).toEqual([1, 1]);
  });

  it('an HTTP 500 (no SMS.ru JSON) after SMS.ru took the message is never sent a second time: failed "outcome unknown"', async () => {
    const id = await postSms(ctx, fp, { to: '+79990000001' });
    smsru.setMode('storeThen500');
    await ctx.deps.worker.runOnce();
    now += 60_000;
    await ctx.deps.worker.runOnce();
    await ctx.deps.reporter.runOnce();
    expect(sendsTo('79990000001')).toBe(1);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', gateway_status: 'HTTP_500' });
    expect(fp.shown.get(id)).toBe('failed');
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
    await ctx.deps.settings.save((await ctx.deps.portals.findByMemberId(fp.memberId))!.id, { gateway: 'smsru', credentials: { api_key: 'revoked' } }, now);
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
    await eventually(() => smsru.messages.size > 0, 'the request to reach SMS.ru', 5_000);
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

describe('claims left by a dead worker', () => {
  /** A second portal, as another install would leave it, with what `settings` holds (stored as is). */
  async function otherPortal(member: string, settings: { gateway: string; credentials_enc: string }) {
    const [row] = await ctx.db('portals').insert({ member_id: member, domain: `${member}.bitrix24.ru`, rest_endpoint: `https://${member}.bitrix24.ru/rest/`, handler_key_hash: member, handler_key_enc: 'x', installed_at: now, updated_at: now }).returning('id');
    const id = Number(typeof row === 'object' ? (row as { id: number }).id : row);
    await ctx.db('settings').insert({ portal_id: id, ...settings, updated_at: now });
    return id;
  }
  /** A message whose worker died a minute ago with its request at `gateway`. */
  async function inFlight(portalId: number, b24Id: string, gateway: string) {
    await ctx.db('messages').insert({
      portal_id: portalId, b24_message_id: b24Id, code: 'c', message_to: '+79990000009', phone: '+79990000009', body: 'hi', state: 'sending', gateway,
      lease_token: 'dead', lease_until: now - 60_000, submitted_at: now - 61_000, attempts: 1, next_attempt_at: now, created_at: now - 62_000, updated_at: now,
    });
  }

  it("one portal's unreadable settings stop no one's sending: its dead claim is decided by the gateway that took it", async () => {
    // Written under another SECRET_KEY (a restore, a rotation gone wrong): reading them throws.
    const broken = await otherPortal('broken', { gateway: 'kannel', credentials_enc: 'v1.AAAA.BBBB.CCCC' });
    await inFlight(broken, 'k1', 'kannel');
    const other = await otherPortal('broken2', { gateway: 'smsru', credentials_enc: 'v1.AAAA.BBBB.CCCC' });
    await inFlight(other, 's1', 'smsru');
    const id = await postSms(ctx, fp, { to: '+79990000001' });
    await ctx.deps.worker.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' }); // this portal's message went out
    // Kannel's report names our id, so it can still settle the message: it waits for it (unknown_since set).
    const k1 = await ctx.db('messages').where({ b24_message_id: 'k1' }).first();
    expect(k1).toMatchObject({ state: 'sending' });
    expect(k1.unknown_since).not.toBeNull();
    // SMS.ru's answer was the only place its id could come from: failed at once, never resent.
    expect(await ctx.db('messages').where({ b24_message_id: 's1' }).first()).toMatchObject({ state: 'failed', failure_reason: 'outcome unknown: the worker stopped while the request was in flight' });
  });

  it("one portal's unreadable settings keep no other portal from being polled, and messages still end by age", async () => {
    const broken = await otherPortal('broken3', { gateway: 'smsru', credentials_enc: 'v1.AAAA.BBBB.CCCC' });
    const msg = { code: 'c', message_to: '+79990000002', phone: '+79990000002', body: 'hi', next_attempt_at: now, updated_at: now };
    await ctx.db('messages').insert({ ...msg, portal_id: broken, b24_message_id: 'b1', state: 'sent', gateway: 'smsru', gateway_message_id: 'x1', created_at: now });
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    // This portal: one message sent a minute ago that SMS.ru has delivered since, one sent four days ago (past
    // STATUS_MAX_AGE), one whose Kannel answer was lost an hour ago (past UNKNOWN_OUTCOME_WINDOW).
    const fresh = await postSms(ctx, fp, { to: '+79990000003' });
    await ctx.deps.worker.runOnce();
    smsru.settle();
    await ctx.db('messages').insert({ ...msg, portal_id: portal.id, b24_message_id: 'old', state: 'sent', gateway: 'smsru', gateway_message_id: 'x2', created_at: now - 4 * 86_400_000 });
    await ctx.db('messages').insert({ ...msg, portal_id: portal.id, b24_message_id: 'lost', state: 'sending', gateway: 'kannel', submitted_at: now - 3_600_000, unknown_since: now - 3_600_000, created_at: now - 3_600_000 });
    for (let run = 0; run < 2; run++) await ctx.deps.statusesJob.runOnce(); // each run starts at another portal
    expect(await messageRow(ctx, fresh)).toMatchObject({ state: 'delivered' });
    expect(await ctx.db('messages').where({ b24_message_id: 'old' }).first()).toMatchObject({ state: 'undelivered', failure_reason: 'expired' });
    expect(await ctx.db('messages').where({ b24_message_id: 'lost' }).first()).toMatchObject({ state: 'failed' });
    expect(await ctx.db('messages').where({ b24_message_id: 'b1' }).first()).toMatchObject({ state: 'sent' }); // asked about once it can be read
  });

  it('a Kannel message in flight when its worker died still waits for its report after the portal moved to SMS.ru', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    await inFlight(portal.id, 'k2', 'kannel'); // the portal's gateway now is SMS.ru
    await ctx.deps.worker.reap();
    const row = await ctx.db('messages').where({ b24_message_id: 'k2' }).first();
    expect(row).toMatchObject({ state: 'sending' });
    expect(row.unknown_since).not.toBeNull();
  });
});

describe('leases', () => {
  it('a send slower than the lease keeps its claim while its worker lives (heartbeats), and no reaper takes it', async () => {
    smsru.setMode('hang');
    const id = await postSms(ctx, fp);
    const run = ctx.deps.worker.runOnce();
    await eventually(() => smsru.messages.size === 1, 'the request to reach SMS.ru');
    for (let i = 0; i < 8; i++) {
      // Two whole leases pass, a quarter at a time, each quarter with its heartbeat.
      now += ctx.config.WORKER_LEASE / 4;
      expect(await ctx.deps.worker.heartbeat()).toBe(1);
      expect(await ctx.deps.worker.reap()).toBe(0);
    }
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', unknown_since: null });
    smsru.dropHung(); // the answer is lost: SMS.ru names its message only in that answer, so it ends failed at once
    await run;
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: expect.stringMatching(/^outcome unknown/) });
    expect(sendsTo('79991234567')).toBe(1);
  });

  it.runIf(Boolean(process.env.TEST_DATABASE_URL))('on PostgreSQL a heartbeat never deadlocks with the writes of its own claims: what a send did is always recorded', async () => {
    await postSms(ctx, fp, { to: '+79990000001' });
    await postSms(ctx, fp, { to: '+79990000002' });
    const claimed = await ctx.deps.queue.claim(now, 2, ctx.config.WORKER_LEASE);
    expect(claimed).toHaveLength(2);
    const token = claimed[0]!.lease_token;
    expect(claimed[1]!.lease_token).toBe(token);
    // The order in which an UPDATE over the claim's rows visits them (two rows: the table's own order).
    const [first, last] = (await ctx.db('messages').where('state', 'sending').whereIn('lease_token', [token]).pluck('id')).map(Number);
    // Recording the answers of the claim's request takes the rows in its own order: here the heartbeat's last first.
    const trx = await ctx.db.transaction();
    let beat: Promise<number> | undefined;
    try {
      await trx('messages').where({ id: last }).update({ updated_at: now + 1 });
      const { pid } = (await trx.raw("select pg_backend_pid() as pid")).rows[0] as { pid: number };
      let beatOver = false;
      beat = ctx.deps.queue.renewLeases([token], now + ctx.config.WORKER_LEASE).finally(() => (beatOver = true));
      beat.catch(() => {}); // awaited below
      // Until the heartbeat is over, or waits for the row this transaction holds (holding the other one: that was the deadlock).
      await eventually(async () => beatOver || Number((await ctx.db.raw('select count(*) as n from pg_stat_activity where ? = any(pg_blocking_pids(pid))', [pid])).rows[0].n) > 0,
        'the heartbeat to end or to wait', 10_000);
      await trx('messages').where({ id: first }).update({ updated_at: now + 1 });
      await trx.commit();
    } catch (err) {
      await trx.rollback().catch(() => {});
      throw err;
    }
    expect(await beat).toBeLessThanOrEqual(2); // and it did not fail
    // A row the transaction held is renewed by the next beat.
    expect(await ctx.deps.queue.renewLeases([token], now + ctx.config.WORKER_LEASE)).toBe(2);
    expect((await ctx.db('messages').whereIn('id', [first!, last!]).pluck('lease_until')).map(Number)).toEqual([now + ctx.config.WORKER_LEASE, now + ctx.config.WORKER_LEASE]);
  });

  it('a reaper leaves alone a claim its worker renewed after the reaper found it expired (the send goes on and is recorded)', async () => {
    smsru.setMode('hang');
    const id = await postSms(ctx, fp);
    const run = ctx.deps.worker.runOnce();
    await eventually(() => smsru.messages.size === 1, 'the request to reach SMS.ru');
    // The worker stalled past its lease; another process's reaper reads the claim as expired, and right then the
    // stalled worker's heartbeat comes through.
    now += ctx.config.WORKER_LEASE + 1;
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now });
    const read = other.queue.expiredClaims;
    other.queue.expiredClaims = async (at, limit) => {
      const found = await read(at, limit);
      expect(await ctx.deps.worker.heartbeat()).toBe(1);
      return found;
    };
    expect(await other.worker.reap()).toBe(0);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', unknown_since: null, failure_reason: null });
    smsru.releaseHung();
    await run;
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
    expect(sendsTo('79991234567')).toBe(1);
  });

  it('a reaper that read a claim as never submitted, whose worker then submitted it (its clock behind the reaper\'s), treats it as in flight, never as "stopped before sending"', async () => {
    const id = await postSms(ctx, fp);
    now += 24 * 3_600_000 - 5_000; // near SEND_MAX_AGE: a claim that was never submitted would be given up
    const claimedAt = now;
    const [claim] = await ctx.deps.queue.claim(now, 1, ctx.config.WORKER_LEASE);
    now += ctx.config.WORKER_LEASE + 1; // the reaper's clock; the worker's is still at claimedAt
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now });
    const read = other.queue.expiredClaims;
    other.queue.expiredClaims = async (at, limit) => {
      const found = await read(at, limit); // read as never submitted
      // The worker marks it submitted to SMS.ru (its request leaves) before the reaper takes over.
      expect(await ctx.deps.queue.markSubmitted(claim!.id, claim!.lease_token, claimedAt, { gateway: 'smsru' })).toBe(true);
      return found;
    };
    expect(await other.worker.reap()).toBe(1);
    const row = await messageRow(ctx, id);
    // SMS.ru's answer was lost with the worker and no report can name the message: an unknown outcome, failed as one.
    expect(row).toMatchObject({ state: 'failed' });
    expect(row.failure_reason).toContain('outcome unknown');
    expect(row.failure_reason).not.toContain('before sending');
  });

  it('a worker that stalled past its lease does not send: the claim comes back and the message is sent once', async () => {
    const id = await postSms(ctx, fp);
    const [claim] = await ctx.deps.queue.claim(now, 1, ctx.config.WORKER_LEASE);
    now += ctx.config.WORKER_LEASE + 1;
    expect(await ctx.deps.queue.markSubmitted(claim!.id, claim!.lease_token, now, { gateway: 'smsru' })).toBe(false);
    expect(await ctx.deps.worker.runOnce()).toBe(1); // reaped, claimed again, sent
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(sendsTo('79991234567')).toBe(1);
  });

  it('a claim whose worker stopped renewing it comes back after one lease, not before', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.queue.claim(now, 10, ctx.config.WORKER_LEASE); // a worker that died right after claiming
    now += ctx.config.WORKER_LEASE - 1;
    expect(await ctx.deps.worker.reap()).toBe(0);
    now += 2;
    expect(await ctx.deps.worker.runOnce()).toBe(1); // reaped, claimed again, sent
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(sendsTo('79991234567')).toBe(1);
  });
});

describe('claims', () => {
  it('take at most the number asked for, on SQLite and PostgreSQL alike', async () => {
    for (let i = 0; i < 6; i++) await postSms(ctx, fp, { to: `+7999000000${i}` });
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    expect(await ctx.deps.queue.claim(now, 2, 120_000, { portalId: portal.id })).toHaveLength(2);
    expect(await ctx.deps.queue.claim(now, 3, 120_000)).toHaveLength(3);
    expect(await ctx.deps.queue.claim(now, 3, 120_000)).toHaveLength(1);
  });

  it('take at most the number asked for under concurrent claimers, and never the same row twice', async () => {
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    await ctx.db.batchInsert('messages', Array.from({ length: 400 }, (_, i) => ({
      portal_id: portal.id, b24_message_id: `many${i}`, code: 'smsgw_myshop', message_to: `+7999${2000000 + i}`, phone: `+7999${2000000 + i}`, body: 'x',
      state: 'queued', next_attempt_at: now - i, created_at: now, updated_at: now,
    })), 200);
    // Eight claimers at once, as eight worker processes would (separate pool connections on PostgreSQL), round after round.
    const seen = new Set<number>();
    for (let round = 0; round < 10; round++) {
      const claims = await Promise.all(Array.from({ length: 8 }, (_, k) => ctx.deps.queue.claim(now, 3 + k, 120_000, k % 2 ? { portalId: portal.id } : {})));
      claims.forEach((c, k) => expect(c.length).toBeLessThanOrEqual(3 + k));
      for (const m of claims.flat()) {
        expect(seen.has(m.id)).toBe(false);
        seen.add(m.id);
      }
    }
    expect(seen.size).toBe(Number((await ctx.db('messages').where({ state: 'sending' }).count({ n: '*' }))[0]!.n));
  });

  it('SMS.ru: the due messages of one account go in as few requests as it takes (100 recipients each), each settled by its own result', async () => {
    smsru.invalid.add('79990000007');
    for (let i = 0; i < 150; i++) await postSms(ctx, fp, { to: `+7999${String(i).padStart(7, '0')}`, text: `code ${i}` });
    await postSms(ctx, fp, { to: '+79990000003', text: 'a second message to the same number' });
    await untilIdle(ctx.deps.worker);
    // 151 messages: 100 + 50 in two requests, and the second message to one number in a request of its own.
    expect(smsru.stats.sendRequests).toBe(3);
    expect(smsru.stats.sendBatchMax).toBe(100);
    const rows = await ctx.db('messages').select('phone', 'body', 'state', 'gateway_message_id', 'failure_reason');
    expect(rows.filter((r) => r.state === 'sent')).toHaveLength(150);
    expect(rows.find((r) => r.phone === '+79990000007')).toMatchObject({ state: 'failed', gateway_message_id: null });
    // Each number got its own text, and kept its own SMS.ru id.
    for (const m of smsru.messages.values()) {
      const row = rows.find((r) => r.gateway_message_id === m.id)!;
      expect([row.phone, row.body]).toEqual([`+${m.to}`, m.msg]);
    }
    expect(new Set(rows.map((r) => r.gateway_message_id).filter(Boolean)).size).toBe(150);
  });

  it('SMS.ru under a trickle: never more than GATEWAY_CONCURRENCY requests in flight; what comes due meanwhile waits and goes together', async () => {
    smsru.setMode('hang');
    ctx.deps.worker.start();
    const queued = async () => (await ctx.db('messages').where({ state: 'queued' })).length;
    try {
      for (let i = 0; i < 20; i++) await postSms(ctx, fp, { to: `+79990000${String(i).padStart(3, '0')}` }); // each wakes the worker
      // However the claims fell (one message each, or several together), the account fills its 8 requests or runs out.
      await eventually(async () => smsru.stats.sendRequests === 8 || (await queued()) === 0, 'the slots to fill or the queue to empty');
      await new Promise((r) => setTimeout(r, 300));
      const inFlight = smsru.stats.sendRequests;
      const waiting = await queued();
      expect(inFlight).toBeLessThanOrEqual(8); // never a ninth request while eight are in flight
      expect(smsru.messages.size + waiting).toBe(20);
      smsru.setMode('ok');
      smsru.dropHung(); // those in flight end "outcome unknown"; the waiting ones go in one request
      await eventually(async () => (await ctx.db('messages').where({ state: 'sent' })).length === waiting, 'the waiting ones to be sent');
      expect(smsru.stats.sendRequests).toBe(inFlight + (waiting > 0 ? 1 : 0));
    } finally {
      await ctx.deps.worker.stop();
    }
  });

  it('SMS.ru: messages that cannot share a request (one number) go one after another within the claim\'s slot, never beside it', async () => {
    smsru.setSendDelay(20);
    for (let i = 0; i < 10; i++) await postSms(ctx, fp, { to: '+79991234567', text: `reminder ${i}` });
    expect(await ctx.deps.worker.runOnce()).toBe(10); // one claim of 10: one slot
    expect(smsru.stats.sendRequests).toBe(10);
    expect(smsru.stats.sendsInFlightMax).toBe(1);
    expect((await ctx.db('messages').where({ state: 'sent' })).length).toBe(10);
  });

  it('SMS.ru: a batch whose answer is lost ends "outcome unknown" for each of its messages, none sent again', async () => {
    for (let i = 0; i < 5; i++) await postSms(ctx, fp, { to: `+7999000000${i}` });
    smsru.setMode('hang');
    const run = ctx.deps.worker.runOnce();
    await eventually(() => smsru.messages.size === 5, 'the batch to reach SMS.ru');
    smsru.dropHung();
    expect(await run).toBe(5);
    expect(smsru.stats.sendRequests).toBe(1);
    const rows = await ctx.db('messages').select('state', 'failure_reason');
    expect(rows.every((r) => r.state === 'failed' && /^outcome unknown/.test(r.failure_reason))).toBe(true);
    smsru.setMode('ok');
    expect(await untilIdle(ctx.deps.worker)).toBe(0);
    expect(smsru.stats.sendRequests).toBe(1);
  });

  it('a gateway that takes one message per request (Kannel) gets no more than GATEWAY_CONCURRENCY of an account at a time', async () => {
    const kannel = await startFakeKannel();
    try {
      const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
      await ctx.deps.settings.save(portal.id, { gateway: 'kannel', credentials: { url: kannel.url, username: 'tester', password: 'foobar' } }, now);
      ctx.deps.accounts.forget(portal.id);
      for (let i = 0; i < 20; i++) await postSms(ctx, fp, { to: `+799900000${String(i).padStart(2, '0')}` });
      expect(await ctx.deps.worker.runOnce()).toBe(8);
      await untilIdle(ctx.deps.worker);
      expect(kannel.requests.length).toBe(20);
    } finally {
      await kannel.close();
    }
  });

  it('the look for portals with due work names each such portal once, by id, and continues after a given portal', async () => {
    const [fp2, fp3, fp4] = [await fake.addPortal(), await fake.addPortal(), await fake.addPortal()];
    for (const p of [fp2, fp3, fp4]) await installPortal(ctx, fake, p, { provider: 'smsru', api_key: 'good-key', sender: 'MyShop' });
    const idOf = async (p: FakePortal) => (await ctx.deps.portals.findByMemberId(p.memberId))!.id;
    const [p1, p2, p3, p4] = [await idOf(fp), await idOf(fp2), await idOf(fp3), await idOf(fp4)];
    for (let i = 0; i < 3; i++) await postSms(ctx, fp, { to: `+7999000000${i}` });
    const retry = await postSms(ctx, fp2); // waits for a retry
    await ctx.db('messages').where({ b24_message_id: retry }).update({ next_attempt_at: now + 60_000 });
    await postSms(ctx, fp3);
    const claimed = await postSms(ctx, fp4); // already being sent
    await ctx.db('messages').where({ b24_message_id: claimed }).update({ state: 'sending' });

    expect(await ctx.deps.queue.duePortals(now)).toEqual([p1, p3]);
    expect(await ctx.deps.queue.duePortals(now, { limit: 1 })).toEqual([p1]);
    expect(await ctx.deps.queue.duePortals(now, { after: p1, limit: 1 })).toEqual([p3]);
    expect(await ctx.deps.queue.duePortals(now + 60_000)).toEqual([p1, p2, p3]);
  });
});

describe('rows that cannot be sent end, instead of looping', () => {
  const portalId = async () => (await ctx.deps.portals.findByMemberId(fp.memberId))!.id;

  it('a message whose text or number was erased ends failed with a reason, is reported, and never reaches the gateway', async () => {
    const ids = [await postSms(ctx, fp, { to: '+79990000001' }), await postSms(ctx, fp, { to: '+79990000002' })];
    await ctx.db('messages').where({ b24_message_id: ids[0] }).update({ body: null });
    await ctx.db('messages').where({ b24_message_id: ids[1] }).update({ phone: null });
    expect(await ctx.deps.worker.runOnce()).toBe(2);
    for (const id of ids) {
      expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'the text or the number was erased when the app was uninstalled' });
    }
    expect(await ctx.deps.worker.runOnce()).toBe(0);
    expect(smsru.stats.sendRequests).toBe(0);
    await ctx.deps.reporter.runOnce();
    expect(ids.map((id) => fp.shown.get(id))).toEqual(['failed', 'failed']);
  });

  it('an error before sending is retried with backoff, then ends failed after SEND_MAX_ATTEMPTS (10)', async () => {
    await ctx.deps.settings.save(await portalId(), { gateway: 'retired-gateway', credentials: {} }, now); // the factory throws for it
    ctx.deps.accounts.forget(await portalId());
    const id = await postSms(ctx, fp);
    for (let attempt = 1; attempt < 10; attempt++) {
      expect(await ctx.deps.worker.runOnce()).toBe(1);
      const row = await messageRow(ctx, id);
      expect(row).toMatchObject({ state: 'queued', attempts: attempt });
      expect(Number(row.next_attempt_at)).toBeGreaterThan(now); // backoff stored, not a tight loop
      now = Number(row.next_attempt_at);
    }
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', attempts: 10, failure_reason: 'gave up after 10 attempts: an internal error kept it from being sent' });
    expect(await ctx.deps.worker.runOnce()).toBe(0);
    await ctx.deps.reporter.runOnce();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('a claim whose worker keeps dying before sending is requeued at most SEND_MAX_ATTEMPTS times, and not after SEND_MAX_AGE', async () => {
    const id = await postSms(ctx, fp, { to: '+79990000001' });
    for (let attempt = 1; attempt <= 10; attempt++) {
      const [claimed] = await ctx.deps.queue.claim(now, 10, 120_000); // claimed by a worker that dies before sending
      expect(claimed).toMatchObject({ b24_message_id: id, attempts: attempt });
      now += 121_000;
      await ctx.deps.worker.reap();
    }
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'gave up after 10 attempts: the worker stopped before sending' });

    const old = await postSms(ctx, fp, { to: '+79990000002' });
    await ctx.deps.queue.claim(now, 10, 120_000);
    now += 25 * 3_600_000;
    await ctx.deps.worker.reap();
    expect(await messageRow(ctx, old)).toMatchObject({ state: 'failed', attempts: 1, failure_reason: 'gave up after 24 h: the worker stopped before sending' });
    expect(smsru.stats.sendRequests).toBe(0);
    await ctx.deps.reporter.runOnce();
    expect([fp.shown.get(id), fp.shown.get(old)]).toEqual(['failed', 'failed']);
  });

  it('a 502 from a proxy in front of Kannel is an unknown outcome: never resent, failed when no report comes', async () => {
    const proxy = await startFakeKannel({ behaviour: { kind: 'answer', status: 502, body: '<html>502 Bad Gateway</html>' } });
    try {
      await ctx.deps.settings.save(await portalId(), { gateway: 'kannel', credentials: { url: proxy.url, username: 'u', password: 'p' } }, now);
      ctx.deps.accounts.forget(await portalId());
      const id = await postSms(ctx, fp);
      expect(await ctx.deps.worker.runOnce()).toBe(1);
      const row = await messageRow(ctx, id);
      expect(row).toMatchObject({ state: 'sending', gateway_status: '502' });
      expect(row.unknown_since).not.toBeNull();
      now += 5 * 60_000;
      expect(await ctx.deps.worker.runOnce()).toBe(0);
      now += 11 * 60_000;
      await ctx.deps.statusesJob.runOnce();
      expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'outcome unknown: no delivery report from the gateway' });
      expect(proxy.sends).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('statuses job', () => {
  it('polls in batches of at most 100 ids, and undeliverable numbers become undelivered', async () => {
    smsru.undeliverable.add('79990000013');
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) ids.push(await postSms(ctx, fp, { to: `+7999${String(i).padStart(7, '0')}` }));
    await untilIdle(ctx.deps.worker);
    smsru.settle();
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 150, expired: 0 });
    expect(smsru.stats.statusIdsMax).toBe(100);
    expect(smsru.stats.statusRequests).toBe(2);
    expect(await messageRow(ctx, ids[13]!)).toMatchObject({ state: 'undelivered', gateway_status: '107' });
    expect(await messageRow(ctx, ids[14]!)).toMatchObject({ state: 'delivered' });
  });

  it('run by three processes at once, polls each portal\'s gateway once: the gateway calls of one process', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 150; i++) ids.push(await postSms(ctx, fp, { to: `+7999${String(i).padStart(7, '0')}` }));
    await untilIdle(ctx.deps.worker);
    smsru.settle();
    // Two more worker processes: their own deps (memory, accounts), the same database and clock.
    const others = [1, 2].map(() => buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now }));
    const runs = await Promise.all([ctx.deps.statusesJob.runOnce(), ...others.map((d) => d.statusesJob.runOnce())]);
    expect(runs.reduce((n, r) => n + r.polled, 0)).toBe(150);
    expect(smsru.stats.statusRequests).toBe(2); // ⌈150 / 100⌉, not three times that
    expect((await ctx.db('messages').where({ state: 'delivered' })).length).toBe(150);
    // The lease is given back when a poll ends: the next run anywhere polls again.
    const id = await postSms(ctx, fp, { to: '+79998887766' });
    await ctx.deps.worker.runOnce();
    smsru.settle();
    expect(await others[1]!.statusesJob.runOnce()).toEqual({ polled: 1, expired: 0 });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });

  it('a poller that died holding a portal\'s lease holds that portal\'s polling for one lease (30 s) at most', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    smsru.settle();
    const portal = (await ctx.deps.portals.findByMemberId(fp.memberId))!;
    expect(await createLeases(ctx.db).take(`statuses:${portal.id}`, now, 30_000)).toBeDefined(); // then it died
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 0, expired: 0 });
    now += 29_999;
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 0, expired: 0 });
    now += 1;
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 1, expired: 0 });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });

  it('marks a message with no final status after STATUS_MAX_AGE undelivered, reason "expired"', async () => {
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    now += 73 * 3_600_000;
    expect(await ctx.deps.statusesJob.runOnce()).toEqual({ polled: 0, expired: 1 });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'undelivered', failure_reason: 'expired' });
  });

  it('transitions asked for together are each answered for themselves (one refused, its neighbours moved)', async () => {
    const ids = [await postSms(ctx, fp), await postSms(ctx, fp), await postSms(ctx, fp)];
    await ctx.deps.worker.runOnce();
    const rows = await Promise.all(ids.map((id) => messageRow(ctx, id)));
    await ctx.deps.queue.advance(rows[1]!.id, 'delivered', now);
    // The same turn: delivered, a late "sent" after delivered (refused), undelivered.
    const moved = await Promise.all([
      ctx.deps.queue.advance(rows[0]!.id, 'delivered', now),
      ctx.deps.queue.advance(rows[1]!.id, 'sent', now),
      ctx.deps.queue.advance(rows[2]!.id, 'undelivered', now, { failure_reason: 'no route' }),
    ]);
    expect(moved).toEqual([true, false, true]);
    expect((await Promise.all(ids.map((id) => messageRow(ctx, id)))).map((r) => r.state)).toEqual(['delivered', 'delivered', 'undelivered']);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(ids.map((id) => fp.statusUpdates.filter((u) => u.MESSAGE_ID === id).map((u) => u.STATUS))).toEqual([['delivered'], ['delivered'], ['undelivered']]);
  });

  it('marks submitted together, each message by its own claim: a claim another worker took is not marked', async () => {
    const ids = [await postSms(ctx, fp), await postSms(ctx, fp)];
    const claimed = await ctx.deps.queue.claim(now, 2, 60_000);
    expect(claimed).toHaveLength(2);
    const ids3 = [...ids, await postSms(ctx, fp)];
    const third = (await ctx.deps.queue.claim(now, 1, 60_000))[0]!;
    // One turn, three marks: one of another worker's claim, and two at different moments, each written with its own.
    const marked = await Promise.all([
      ctx.deps.queue.markSubmitted(claimed[0]!.id, claimed[0]!.lease_token, now, { gateway: 'smsru' }),
      ctx.deps.queue.markSubmitted(claimed[1]!.id, 'another-workers-claim', now, { gateway: 'smsru' }),
      ctx.deps.queue.markSubmitted(third.id, third.lease_token, now + 7, { gateway: 'smsru' }),
    ]);
    expect(marked).toEqual([true, false, true]);
    const rows = await Promise.all(ids3.map((id) => messageRow(ctx, id)));
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(claimed[0]!.id)).toMatchObject({ submitted_at: now, gateway: 'smsru' });
    expect(byId.get(claimed[1]!.id)).toMatchObject({ submitted_at: null, gateway: null });
    expect(byId.get(third.id)).toMatchObject({ submitted_at: now + 7, updated_at: now + 7 });
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
