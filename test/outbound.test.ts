import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createDispatcher, httpRequest, HTTP_ANSWER_TOO_LARGE, HTTP_CONNECT_DEADLINE, HTTP_DEADLINE } from '../src/platform/http.js';
import { transportOutcome } from '../src/gateways/gateway.js';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';
import { createTestContext, type TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { messageRow, postSms } from './helpers/sms.js';
import { eventually, untilIdle } from './helpers/wait.js';

const HUNDRED_MB = 100 * 1024 * 1024;

describe('every outbound request has an overall deadline and a size cap', () => {
  let server: FakeKannel;
  afterEach(async () => server.close());
  const dispatcher = createDispatcher();

  it('a peer that trickles one byte at a time is cut at the deadline, not kept alive by each byte', async () => {
    server = await startFakeKannel({ behaviour: { kind: 'trickle', status: 202, everyMs: 100, bytes: 600 } }); // 60 s if let run
    const started = Date.now();
    const err = await httpRequest(`${server.url}/cgi-bin/sendsms`, { method: 'GET' }, { dispatcher, timeoutMs: 1000 }).catch((e) => e);
    expect(err).toMatchObject({ code: HTTP_DEADLINE });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(transportOutcome(err).kind).toBe('unknown'); // the request was written: never resent
    await eventually(() => server.answers.cutShort === 1, 'the server to see the connection closed', 5_000);
  });

  it('an answer over the cap is dropped and the connection closed early', async () => {
    server = await startFakeKannel({ behaviour: { kind: 'huge', status: 202, bytes: HUNDRED_MB } });
    const err = await httpRequest(`${server.url}/cgi-bin/sendsms`, { method: 'GET' }, { dispatcher, timeoutMs: 10_000 }).catch((e) => e);
    expect(err).toMatchObject({ code: HTTP_ANSWER_TOO_LARGE });
    await eventually(() => server.answers.cutShort === 1, 'the server to see the connection closed', 5_000);
    expect(server.answers.complete).toBe(0);
    expect(server.answers.bytesWritten).toBeLessThan(HUNDRED_MB / 4);
    // A smaller cap per call, and a declared length over it refused before reading.
    server.setBehaviour({ kind: 'answer', status: 200, body: 'z'.repeat(5_000) });
    await expect(httpRequest(server.url, { method: 'GET' }, { dispatcher, timeoutMs: 2_000, maxBytes: 4_096 })).rejects.toMatchObject({ code: HTTP_ANSWER_TOO_LARGE });
    expect((await httpRequest(server.url, { method: 'GET' }, { dispatcher, timeoutMs: 2_000, maxBytes: 8_192 })).text).toHaveLength(5_000);
  });

  it('a deadline that passes before any connection is made means the request never left: retryable', async () => {
    server = await startFakeKannel();
    const neverConnects = new Agent({ connect: () => {} });
    const err = await httpRequest(server.url, { method: 'GET' }, { dispatcher: neverConnects, timeoutMs: 300 }).catch((e) => e);
    expect(err).toMatchObject({ code: HTTP_CONNECT_DEADLINE });
    expect(transportOutcome(err).kind).toBe('retryable');
    expect(server.requests).toHaveLength(0);
    await neverConnects.destroy();
  });
});

describe('one tenant does not stall the others', () => {
  let fake: FakeBitrix24;
  let slow: FakeKannel;
  let fpA: FakePortal;
  let fpB: FakePortal;
  let ctx: TestContext;

  beforeEach(async () => {
    fake = await startFakeBitrix24();
    slow = await startFakeKannel();
    [fpA, fpB] = [await fake.addPortal(), await fake.addPortal()];
    ctx = await createTestContext({
      fake,
      env: { ALLOW_PRIVATE_GATEWAYS: '1', B24_TIMEOUT_MS: '6000', GATEWAY_TIMEOUT_MS: '8000', WORKER_CONCURRENCY: '4', GATEWAY_CONCURRENCY: '2', UNKNOWN_OUTCOME_WINDOW: '1s' },
    });
    await installPortal(ctx, fake, fpA, { provider: 'kannel', kannel_url: slow.url, kannel_username: slow.username, kannel_password: slow.password, sender: 'SlowCo' });
    await installPortal(ctx, fake, fpB, { provider: 'smsru', api_key: 'healthy-key', sender: 'FastCo' });
  });
  afterEach(async () => {
    slow.setBehaviour({ kind: 'kannel' });
    await ctx.close();
    await slow.close();
    await fake.close();
  });

  it('portal B\'s SMS is sent within seconds while portal A\'s gateway trickles its answers', async () => {
    // Headers at once, then one byte a second for a minute; A's messages fill more than the worker's 4 slots.
    slow.setBehaviour({ kind: 'trickle', status: 202, everyMs: 1_000, bytes: 60 });
    const a: string[] = [];
    for (let i = 0; i < 6; i++) a.push(await postSms(ctx, fpA, { to: `+7999000000${i}` }));
    const b = await postSms(ctx, fpB, { to: '+79995550000' });
    const started = Date.now();
    ctx.deps.worker.start();

    await eventually(async () => (await messageRow(ctx, b)).state === 'sent', 'portal B\'s SMS to be sent', 5_000);
    const inFlight = await ctx.db('messages').whereIn('b24_message_id', a).whereNotNull('submitted_at').whereNull('unknown_since').where('state', 'sending');
    expect(inFlight.length).toBeGreaterThan(0); // A is still trickling
    expect(inFlight.length).toBeLessThanOrEqual(2); // and holds only its own GATEWAY_CONCURRENCY slots

    // A's requests end at the 8 s deadline as unknown outcomes (Kannel's DLR would settle them), never resent.
    await eventually(async () => (await messageRow(ctx, a[0]!)).unknown_since !== null, 'A\'s first request to hit its deadline', 15_000);
    expect(Date.now() - started).toBeLessThan(30_000); // far less than the minute the trickle would take
    expect(await messageRow(ctx, a[0]!)).toMatchObject({ state: 'sending', gateway_status: HTTP_DEADLINE });
    slow.setBehaviour({ kind: 'kannel' });
    // One statement: two separate reads let a message move from queued to claimed between them and look gone.
    const waiting = () => ctx.db('messages').whereIn('b24_message_id', a)
      .where((q) => q.where('state', 'queued').orWhere((s) => s.where('state', 'sending').whereNull('unknown_since')));
    await eventually(async () => (await waiting()).length === 0, 'A\'s other messages to leave the queue', 30_000);
    expect(slow.sends).toBe(6); // each of A's messages reached the gateway exactly once
  }, 60_000);

  it('an answer of 100 MB is cut at the cap: an unknown outcome, and the connection closed early', async () => {
    slow.setBehaviour({ kind: 'huge', status: 202, bytes: HUNDRED_MB });
    const id = await postSms(ctx, fpA);
    expect(await ctx.deps.worker.runOnce()).toBe(1);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sending', gateway_status: HTTP_ANSWER_TOO_LARGE });
    expect((await messageRow(ctx, id)).unknown_since).not.toBeNull();
    await eventually(() => slow.answers.cutShort === 1, 'the gateway to see the connection closed', 5_000);
    expect(slow.answers.bytesWritten).toBeLessThan(HUNDRED_MB / 4);
    expect(await ctx.deps.worker.runOnce()).toBe(0); // never resent
  });

  it('a portal whose Bitrix24 hangs does not hold back the status reports of another portal', async () => {
    slow.setBehaviour({ kind: 'kannel' });
    const a = await postSms(ctx, fpA);
    const b = await postSms(ctx, fpB);
    await untilIdle(ctx.deps.worker);
    const settle = async (id: string) => ctx.deps.queue.advance((await messageRow(ctx, id)).id, 'delivered', Date.now());
    fpA.delayNext.push(30_000); // A's portal holds its first report call past the 6 s deadline
    await settle(a);
    ctx.deps.reporter.start();
    await eventually(() => fpA.delayNext.length === 0, 'A\'s report call to reach its portal', 5_000);

    await settle(b); // due while A's call hangs
    ctx.deps.reporter.kick();
    await eventually(() => fpB.shown.get(b) === 'delivered', 'B\'s report', 3_000);
    expect(fpA.shown.get(a)).toBe('sent'); // A's call still hangs
    await eventually(() => fpA.shown.get(a) === 'delivered', 'A\'s report, retried after the deadline', 20_000);
  }, 30_000);
});
