import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGatewayFactory } from '../src/gateways/index.js';
import { createSmscRuLimits, memoryGate } from '../src/gateways/smscru-limits.js';
import { createSmscRuGateway } from '../src/gateways/smscru.js';
import type { Gateway, OutgoingSms } from '../src/gateways/gateway.js';
import { createDispatcher } from '../src/platform/http.js';
import { loadConfig } from '../src/platform/config.js';
import { startFakeSmscRu, type FakeSmscRu } from './fakes/smscru.js';
import { eventually } from './helpers/wait.js';

/** The SMSC.ru adapter against the fake SMSC over HTTP on 127.0.0.1, time driven by the test's clock. */
let smsc: FakeSmscRu;
let now: number;
const clock = () => now;
const dispatcher = createDispatcher();

beforeEach(async () => {
  now = Date.UTC(2026, 10, 22, 12);
  smsc = await startFakeSmscRu({ clock, accounts: { shop: { password: 's3cret', balance: 100 } } });
});
afterEach(async () => smsc.close());

function gateway(o: { login?: string; password?: string; timeoutMs?: number; limits?: ReturnType<typeof createSmscRuLimits> } = {}): Gateway {
  return createSmscRuGateway({
    baseUrl: smsc.url, login: o.login ?? 'shop', password: o.password ?? 's3cret', dispatcher, timeoutMs: o.timeoutMs ?? 2_000,
    limits: o.limits ?? createSmscRuLimits({ clock, concurrency: 8 }),
  });
}
let seq = 1000;
const sms = (o: Partial<OutgoingSms> = {}): OutgoingSms => ({ id: ++seq, to: '+79991234567', text: 'Привет! Ваш код 1234', sender: 'MyShop', dlrUrl: '', unicode: true, ...o });

describe('sending through SMSC.ru', () => {
  it('one number per request, with our id, the sender, fmt=3, charset=utf-8 and cost=3; accepted under our id', async () => {
    const m = sms();
    const outcome = await gateway().send(m);
    expect(outcome).toMatchObject({ kind: 'accepted', gatewayMessageId: String(m.id), text: 'accepted: 1 SMS, cost 2.50' });
    expect(smsc.requests).toEqual([{ cmd: 'send', params: expect.objectContaining({ login: 'shop', psw: '***', phones: '+79991234567', id: String(m.id), sender: 'MyShop', fmt: '3', charset: 'utf-8', cost: '3' }) }]);
    expect(smsc.byId(m.id)).toEqual([expect.objectContaining({ phone: '79991234567', mes: 'Привет! Ваш код 1234', status: -1 })]);
  });

  it('leaves the sender out when the portal has none (the account default)', async () => {
    await gateway().send(sms({ sender: '' }));
    expect(smsc.requests[0]!.params.sender).toBeUndefined();
  });

  it.each([
    ['a wrong password', () => gateway({ password: 'wrong' }).send(sms()), '2', /wrong login or password/],
    ['an invalid number', () => (smsc.invalid.add('79990000007'), gateway().send(sms({ to: '+79990000007' }))), '7', /wrong phone number format/],
    ['a number SMSC cannot deliver to', () => (smsc.refused.add('79990000008'), gateway().send(sms({ to: '+79990000008' }))), '8', /cannot be delivered/],
    ['an empty account', () => ((smsc.accounts.get('shop')!.balance = 1), gateway().send(sms())), '3', /not enough money/],
    ['an unapproved sender', () => ((smsc.accounts.get('shop')!.senders = ['Other']), gateway().send(sms())), '6', /forbidden/],
  ])('fails permanently on %s, in plain words', async (_what, go, code, words) => {
    const outcome = await go();
    expect(outcome).toMatchObject({ kind: 'permanent', code });
    expect(outcome.text).toMatch(words);
  });

  it('fails a text over 1,000 characters without a request', async () => {
    expect(await gateway().send(sms({ text: 'x'.repeat(1_001) }))).toMatchObject({ kind: 'permanent', code: 'TOO_LONG' });
    expect(smsc.stats.sendRequests).toBe(0);
  });

  it('after SMSC refused a login, sends with those credentials fail without asking for a while (each refusal counts towards blocking the server)', async () => {
    const limits = createSmscRuLimits({ clock, concurrency: 8 });
    const bad = gateway({ password: 'wrong', limits });
    expect(await bad.send(sms())).toMatchObject({ kind: 'permanent', code: '2' });
    expect(await bad.send(sms())).toMatchObject({ kind: 'permanent', code: '2' });
    expect(smsc.stats.sendRequests).toBe(1);
    expect(await gateway({ limits }).send(sms())).toMatchObject({ kind: 'accepted' }); // the right password is not held back
    now += 5 * 60_000;
    expect(await bad.send(sms())).toMatchObject({ kind: 'permanent', code: '2' });
    expect(smsc.stats.sendRequests).toBe(3);
  });

  it('the same send within a minute (error 9) waits at least a minute and slows the account down; then it goes', async () => {
    const g = gateway();
    expect(await g.send(sms({ text: 'Order 1 is ready' }))).toMatchObject({ kind: 'accepted' });
    const again = await g.send(sms({ text: 'Order 1 is ready' })); // another message, same number and text
    expect(again).toMatchObject({ kind: 'retryable', code: '9', throttled: true, retryAfterMs: 60_000 });
    now += 60_000;
    expect(await g.send(sms({ text: 'Order 1 is ready' }))).toMatchObject({ kind: 'accepted' });
  });

  it('once SMSC blocks this server (error 4), nothing is asked for five minutes, whatever the account', async () => {
    smsc.block(10 * 60_000);
    const limits = createSmscRuLimits({ clock, concurrency: 8 });
    expect(await gateway({ limits }).send(sms())).toMatchObject({ kind: 'retryable', code: '4', throttled: true, retryAfterMs: 5 * 60_000 });
    now += 60_000;
    expect(await gateway({ limits, login: 'other' }).send(sms())).toMatchObject({ kind: 'retryable', code: '4', retryAfterMs: 4 * 60_000 });
    await expect(gateway({ limits }).lookup!({ id: 1, to: '+79991234567' })).rejects.toMatchObject({ code: '4' });
    expect(await gateway({ limits }).checkCredentials()).toMatchObject({ ok: false, retryable: true, reason: expect.stringMatching(/blocked/) });
    expect(smsc.stats.sendRequests + smsc.stats.statusRequests + smsc.stats.balanceRequests).toBe(1);
    now += 4 * 60_000;
    expect(await gateway({ limits }).send(sms())).toMatchObject({ kind: 'retryable', code: '4' }); // asked again: still blocked there
    expect(smsc.stats.sendRequests).toBe(2);
  });

  it('a connection cut after SMSC stored the message is an unknown outcome, never a failure', async () => {
    smsc.nextSends('storeThenDrop');
    const outcome = await gateway().send(sms());
    expect(outcome.kind).toBe('unknown');
    expect(outcome.text).toMatch(/^outcome unknown: /);
  });

  it('an HTTP 500 after SMSC stored the message is an unknown outcome, never a retry (sent again it would go out twice)', async () => {
    smsc.nextSends('storeThen500');
    const outcome = await gateway().send(sms());
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'HTTP_500' });
  });

  it('an answer that never comes is an unknown outcome at our deadline', async () => {
    smsc.nextSends('storeThenHang');
    const outcome = await gateway({ timeoutMs: 300 }).send(sms());
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'HTTP_DEADLINE' });
  });

  it('never has more than SMSCRU_CONCURRENCY requests of a login in flight, over every portal using it', async () => {
    const factory = createGatewayFactory({ smsruUrl: 'http://127.0.0.1:9', smscruUrl: smsc.url, dispatcher, tenantDispatcher: dispatcher, timeoutMs: 5_000, smscruConcurrency: 5, clock });
    const portals = [factory('smscru', { login: 'shop', password: 's3cret' }), factory('smscru', { login: 'shop', password: 's3cret' })];
    smsc.holdSends();
    const sends = Array.from({ length: 16 }, (_, i) => portals[i % 2]!.send(sms({ to: `+7999000${String(i).padStart(4, '0')}` })));
    await eventually(() => smsc.inFlight('shop') === 5, 'five requests to be in flight');
    smsc.release();
    const outcomes = await Promise.all(sends);
    expect(outcomes.every((o) => o.kind === 'accepted')).toBe(true);
    expect(smsc.stats.inFlightMax).toBe(5);
    expect(smsc.stats.errors[9]).toBeUndefined();
  });
});

describe('statuses from SMSC.ru', () => {
  const sendAll = async (g: Gateway, phones: string[]) => {
    const ids: string[] = [];
    for (const to of phones) {
      const m = sms({ to, text: `code ${to}` });
      expect(await g.send(m)).toMatchObject({ kind: 'accepted' });
      ids.push(String(m.id));
    }
    return ids;
  };

  it('polls in the multi form (numbers and ids in the same order), reading every status with its err', async () => {
    const g = gateway();
    const phones = ['+79990000001', '+79990000002', '+79990000003', '+79990000004'];
    const ids = await sendAll(g, phones);
    smsc.undeliverable.add('79990000002');
    smsc.unavailable.add('79990000003');
    smsc.settle();
    smsc.setStatus(ids[3]!, 0);
    const statuses = await g.fetchStatuses!(ids, phones);
    expect(smsc.requests.at(-1)!.params).toMatchObject({ phone: '79990000001,79990000002,79990000003,79990000004,', id: `${ids.join(',')},` });
    expect(statuses.get(ids[0]!)).toEqual({ state: 'delivered', code: '1', text: 'delivered' });
    expect(statuses.get(ids[1]!)).toEqual({ state: 'undelivered', code: '20', text: 'not delivered: the subscriber does not exist' });
    expect(statuses.get(ids[2]!)).toEqual({ state: 'failed', code: '25', text: 'number unavailable (no route): no route' });
    expect(statuses.get(ids[3]!)).toMatchObject({ state: 'sent', code: '0' });
  });

  it('reads a multi-form answer whose entries name no id in the order asked', async () => {
    const g = gateway();
    const phones = ['+79990000001', '+79990000002'];
    const ids = await sendAll(g, phones);
    smsc.setStatus(ids[1]!, 3);
    smsc.statusEntriesWithoutIds();
    const statuses = await g.fetchStatuses!(ids, phones);
    expect([statuses.get(ids[0]!)?.state, statuses.get(ids[1]!)?.state]).toEqual(['sent', 'undelivered']);
  });

  it('keeps one mass status request a minute per login, shared by every adapter and process through the gate', async () => {
    const gate = memoryGate(); // the database's buckets in the service
    const [a, b] = [0, 1].map(() => gateway({ limits: createSmscRuLimits({ gate, clock, concurrency: 8 }) }));
    const ids = await sendAll(a!, ['+79990000001']);
    await a!.fetchStatuses!(ids, ['+79990000001']);
    now += 59_999;
    await expect(b!.fetchStatuses!(ids, ['+79990000001'])).rejects.toMatchObject({ code: 'RATE' });
    expect(smsc.stats.massStatusRequests).toBe(1); // refused here, not at SMSC
    now += 1;
    expect((await b!.fetchStatuses!(ids, ['+79990000001'])).get(ids[0]!)).toMatchObject({ state: 'sent', code: '-1' });
    expect(smsc.stats.errors[9]).toBeUndefined();
  });

  it('looks a message up by our id in the single form: found with its state, or not found (SMSC\'s error 3)', async () => {
    const g = gateway();
    const m = sms();
    smsc.nextSends('storeThenDrop'); // stored, answer lost
    expect((await g.send(m)).kind).toBe('unknown');
    expect(await g.lookup!({ id: m.id, to: m.to })).toEqual({ kind: 'found', gatewayMessageId: String(m.id), status: { state: 'sent', code: '-1', text: 'waiting to be sent' } });
    expect(smsc.requests.at(-1)!.params).toMatchObject({ phone: '79991234567', id: String(m.id) });
    expect(smsc.stats.massStatusRequests).toBe(0); // the single form is no mass request
    smsc.setStatus(m.id, 1);
    expect(await g.lookup!({ id: m.id, to: m.to })).toMatchObject({ kind: 'found', status: { state: 'delivered' } });

    const lost = sms({ text: 'another text' });
    smsc.nextSends('loseBeforeStore');
    expect((await gateway({ timeoutMs: 300 }).send(lost)).kind).toBe('unknown');
    expect(await g.lookup!({ id: lost.id, to: lost.to })).toEqual({ kind: 'notFound' });
  });

  it('a lookup SMSC refuses (error 9: a sixth request for one message within a minute) throws, to be tried again later', async () => {
    const g = gateway();
    const m = sms();
    await g.send(m);
    for (let i = 0; i < 5; i++) await g.lookup!({ id: m.id, to: m.to });
    await expect(g.lookup!({ id: m.id, to: m.to })).rejects.toMatchObject({ code: '9', oneMessage: false }); // the portal's other lookups wait too
  });
});

describe('the credential check', () => {
  it('tells the balance (balance.php), or says in plain words what is wrong', async () => {
    expect(await gateway().checkCredentials()).toEqual({ ok: true, balance: 100 });
    expect(await gateway({ password: 'nope' }).checkCredentials()).toEqual({ ok: false, reason: expect.stringMatching(/^SMSC.ru refused the login or password/), code: 'credentials_refused' });
    expect(await createSmscRuGateway({ baseUrl: 'http://127.0.0.1:9', login: 'shop', password: 'x', dispatcher, timeoutMs: 1_000, limits: createSmscRuLimits({ clock, concurrency: 1 }) }).checkCredentials())
      .toEqual({ ok: false, reason: 'SMSC.ru could not be reached', code: 'unreachable', retryable: true });
  });

  it('past SMSC\'s ten balance requests a minute, asks to wait rather than call the login wrong', async () => {
    const g = gateway();
    for (let i = 0; i < 10; i++) expect((await g.checkCredentials()).ok).toBe(true);
    expect(await g.checkCredentials()).toEqual({ ok: false, reason: expect.stringMatching(/wait a minute/), code: 'wait_a_minute', retryable: true });
  });
});

describe('SMSC.ru configuration', () => {
  it('defaults to smsc.ru, 8 requests per login, a 2-minute grace; refuses 15 at once and a grace under SMSC\'s one-minute duplicate window', () => {
    expect(loadConfig({})).toMatchObject({ SMSCRU_API_URL: 'https://smsc.ru', SMSCRU_CONCURRENCY: 8, UNKNOWN_OUTCOME_GRACE: 120_000 });
    expect(loadConfig({ UNKNOWN_OUTCOME_GRACE: '90s' }).UNKNOWN_OUTCOME_GRACE).toBe(90_000);
    expect(() => loadConfig({ UNKNOWN_OUTCOME_GRACE: '30s' })).toThrow(/UNKNOWN_OUTCOME_GRACE: must be from 1m to 1d/);
    expect(() => loadConfig({ SMSCRU_CONCURRENCY: '15' })).toThrow(/SMSCRU_CONCURRENCY/);
  });
});

describe('the fake SMSC is as strict as SMSC', () => {
  const call = async (cmd: string, params: Record<string, string>) => {
    const r = await fetch(`${smsc.url}/sys/${cmd}.php`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ login: 'shop', psw: 's3cret', fmt: '3', charset: 'utf-8', ...params }) });
    return (await r.json()) as Record<string, unknown>;
  };

  it('refuses a 15th concurrent request of one login, and a 5th concurrent status request, with error 9', async () => {
    smsc.holdSends();
    const held = Array.from({ length: 14 }, (_, i) => call('send', { phones: `+7999000${String(i).padStart(4, '0')}`, mes: `m${i}`, id: String(i + 1) }));
    await eventually(() => smsc.inFlight('shop') === 14, '14 sends in flight');
    expect(await call('balance', {})).toMatchObject({ error_code: 9 });
    smsc.release();
    expect((await Promise.all(held)).every((a) => a.cnt === 1)).toBe(true);
  });

  it('answers a second mass status request within a minute, and a sixth for one message, with error 9; an unknown id with -3 in the multi form, error 3 in the single; a wrong login with 2', async () => {
    await call('send', { phones: '+79990000001', mes: 'hi', id: '7' });
    expect(await call('status', { phone: '79990000001,', id: '7,' })).toEqual([expect.objectContaining({ id: '7', status: -1 })]);
    expect(await call('status', { phone: '79990000001,79990000002', id: '7,8' })).toMatchObject({ error_code: 9 });
    now += 60_000;
    expect(await call('status', { phone: '79990000001,79990000002', id: '7,8' })).toEqual([expect.objectContaining({ status: -1 }), expect.objectContaining({ id: '8', status: -3 })]);
    expect(await call('status', { phone: '79990000002', id: '8' })).toMatchObject({ error_code: 3 }); // the single form's "not found"
    for (let i = 0; i < 4; i++) expect(await call('status', { phone: '79990000001', id: '7' })).toMatchObject({ status: -1 });
    expect(await call('status', { phone: '79990000001', id: '7' })).toMatchObject({ error_code: 9 }); // the sixth this minute
    expect(await call('status', { login: 'nobody', phone: '79990000001', id: '7' })).toMatchObject({ error_code: 2 });
  });

  it('carries the id with errors 3, 6, 7, 8; reads a text without charset=utf-8 as windows-1251; blocks an address that keeps erring', async () => {
    smsc.invalid.add('79990000001');
    expect(await call('send', { phones: '+79990000001', mes: 'hi', id: '5' })).toEqual({ error: 'invalid phone', error_code: 7, id: '5' });
    expect(await call('send', { phones: '+79990000003', mes: 'hi', id: '9', time: 'tomorrow' })).toMatchObject({ error_code: 5 });
    expect(await call('send', { phones: '+79990000003', mes: 'hi', id: 'not an id!' })).toMatchObject({ error_code: 1 });
    await call('send', { phones: '+79990000002', mes: 'Привет', id: '6', charset: 'windows-1251' });
    expect(smsc.byId(6)[0]!.mes).not.toBe('Привет');
    for (let i = 0; i < 20; i++) await call('balance', { psw: 'wrong' });
    expect(await call('balance', {})).toMatchObject({ error_code: 4 });
  });
});
