import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_IDLE_MS, createGatewayAddressCheck, createGatewayDispatcher, GATEWAY_LOOKUP_TIMEOUT, KEEP_ANSWER_MS, SLOW_TENANT_MS, STALE_ANSWER_MS } from '../src/platform/address-guard.js';
import { createGatewayFactory } from '../src/gateways/index.js';
import { httpRequest } from '../src/platform/http.js';
import { transportOutcome } from '../src/gateways/gateway.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';

/**
 * A resolver the test drives: `answers` come back at once; `stuck` names are never answered until the test
 * releases them, like a name server that never replies. It records every lookup and how many ran at once.
 */
function scriptedResolver(answers: Record<string, string[]>, stuck: string[]) {
  const calls: string[] = [];
  const waiting = new Map<string, Array<() => void>>();
  const pending: Array<() => void> = [];
  let running = 0;
  let most = 0;
  const lookup = (host: string): Promise<string[]> => {
    calls.push(host);
    running++;
    most = Math.max(most, running);
    for (const notify of waiting.get(host) ?? []) notify();
    waiting.delete(host);
    const answer = stuck.includes(host) ? new Promise<string[]>((r) => pending.push(() => r([]))) : Promise.resolve(answers[host] ?? []);
    return answer.finally(() => running--);
  };
  return {
    lookup,
    calls,
    get most() {
      return most;
    },
    /** Resolves once `host` has been looked up. */
    asked: (host: string) =>
      calls.includes(host) ? Promise.resolve() : new Promise<void>((r) => waiting.set(host, [...(waiting.get(host) ?? []), r])),
    releaseStuck: () => pending.splice(0).forEach((release) => release()),
  };
}

let kannel: FakeKannel;
beforeEach(async () => {
  kannel = await startFakeKannel({ behaviour: { kind: 'answer', status: 200, body: 'OK' } });
});
afterEach(async () => kannel.close());

// The HTTP deadline is far beyond the guard's connect timeout: a failure coded GATEWAY_LOOKUP_TIMEOUT came from the guard.
const get = (url: string, dispatcher: ReturnType<typeof createGatewayDispatcher>) => httpRequest(url, { method: 'GET' }, { dispatcher, timeoutMs: 3_000 });
const failure = (p: Promise<unknown>) => p.then((): unknown => 'answered', (err: unknown) => err);

describe('name lookups for tenants\' gateways', () => {
  it('a burst of connections to a name whose name server never answers takes one lookup, gives up at the connect timeout as retryable, and another name still resolves meanwhile', async () => {
    const names = scriptedResolver({ 'kannel.example.test': ['127.0.0.1'] }, ['stuck.example.test']);
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100 });
    const burst = Array.from({ length: 8 }, () => failure(get(`http://stuck.example.test:${kannel.port}/cgi-bin/sendsms`, guard)));
    await names.asked('stuck.example.test');

    const other = await get(`http://kannel.example.test:${kannel.port}/cgi-bin/sendsms`, guard);
    expect(other.status).toBe(200);

    for (const err of await Promise.all(burst)) {
      expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
      expect(transportOutcome(err).kind).toBe('retryable'); // the request never left
    }
    expect(names.calls.filter((h) => h === 'stuck.example.test')).toHaveLength(1);
    expect(names.most).toBeLessThanOrEqual(2);
    expect(kannel.requests).toHaveLength(1);
    names.releaseStuck();
    await guard.close();
  });

  it('never runs more than three lookups at once: a name beyond the bound waits, gives up at the connect timeout without being looked up, and names go through once a slot frees', async () => {
    const names = scriptedResolver({ 'kannel.example.test': ['127.0.0.1'] }, ['a.stuck.test', 'b.stuck.test', 'c.stuck.test', 'd.stuck.test']);
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100 });
    const attempts: Array<Promise<unknown>> = [];
    for (const host of ['a.stuck.test', 'b.stuck.test', 'c.stuck.test']) {
      attempts.push(failure(get(`http://${host}:${kannel.port}/`, guard)), failure(get(`http://${host}:${kannel.port}/`, guard)));
      await names.asked(host);
    }
    attempts.push(failure(get(`http://d.stuck.test:${kannel.port}/`, guard)), failure(get(`http://kannel.example.test:${kannel.port}/`, guard)));

    for (const err of await Promise.all(attempts)) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    expect(names.most).toBeLessThanOrEqual(3);

    names.releaseStuck(); // the stuck lookups end, as getaddrinfo does at the resolver's timeout
    expect((await get(`http://kannel.example.test:${kannel.port}/`, guard)).status).toBe(200);
    // Nobody wanted d.stuck.test any more when a slot freed: it was never looked up.
    expect(names.calls).not.toContain('d.stuck.test');
    expect(names.most).toBeLessThanOrEqual(3);
    await guard.close();
  });
});

describe('name lookups are shared fairly between portals', () => {
  const PORTAL_A = 1;
  const PORTAL_B = 2;
  const PORTAL_C = 3;

  it('one portal whose names never answer holds one lookup, its other names wait on it, and another portal\'s Kannel check still goes through', async () => {
    kannel.setBehaviour({ kind: 'kannel' });
    const slow = ['slow1.example.test', 'slow2.example.test', 'slow3.example.test', 'slow4.example.test'];
    const names = scriptedResolver({ 'ok.example.test': ['127.0.0.1'] }, slow);
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100 });
    const gateways = createGatewayFactory({ smsruUrl: 'http://127.0.0.1:9', dispatcher: guard, tenantDispatcher: guard, timeoutMs: 3_000 });
    const kannelOf = (host: string, owner: number) =>
      gateways('kannel', { url: `http://${host}:${kannel.port}`, username: kannel.username, password: kannel.password }, { owner });

    // Four checks of portal A's names at once (as many concurrent settings forms), more than the process's slots.
    const slowChecks = slow.map((host) => kannelOf(host, PORTAL_A).checkCredentials());
    await names.asked('slow1.example.test');
    const other = await kannelOf('ok.example.test', PORTAL_C).checkCredentials();

    expect(other).toEqual({ ok: true });
    for (const check of await Promise.all(slowChecks)) expect(check).toMatchObject({ ok: false, retryable: true });
    // Portal A's other names waited on its own slot, held by the name that never answers: never looked up.
    expect(names.calls.filter((h) => h.startsWith('slow'))).toEqual(['slow1.example.test']);
    names.releaseStuck();
    await Promise.all([guard.close(), guard.forPortal(PORTAL_A).close(), guard.forPortal(PORTAL_C).close()]);
  });

  it('a name that answered is used again for KEEP_ANSWER_MS, then served for STALE_ANSWER_MS while it is looked up again: while three portals\' names hang and hold every lookup, a portal that connected within STALE_ANSWER_MS still gets its address', async () => {
    let now = Date.UTC(2026, 11, 1);
    const slow = ['slow1.example.test', 'slow2.example.test', 'slow3.example.test'];
    const names = scriptedResolver({ 'ok.example.test': ['127.0.0.1'], 'moved.example.test': ['127.0.0.2'] }, slow);
    const check = createGatewayAddressCheck({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100, clock: () => now });
    const lookupsOf = (host: string) => names.calls.filter((h) => h === host).length;
    expect(await check('ok.example.test', 2775, PORTAL_C)).toBe('127.0.0.1');
    expect(await check('moved.example.test', 2775, PORTAL_B)).toBe('127.0.0.2');
    const stalled = slow.map((host, i) => failure(check(host, 2775, 10 + i)));
    await Promise.all(slow.map((host) => names.asked(host)));

    now += KEEP_ANSWER_MS - 1;
    expect(await check('ok.example.test', 2775, PORTAL_C)).toBe('127.0.0.1');
    expect(lookupsOf('ok.example.test')).toBe(1);
    // Past KEEP_ANSWER_MS the last answer is served at once while the name waits for a slot to be looked up again.
    now += STALE_ANSWER_MS - KEEP_ANSWER_MS;
    expect(await check('ok.example.test', 2775, PORTAL_C)).toBe('127.0.0.1');
    // Past STALE_ANSWER_MS it is not served any more: the name waits for a slot like any other.
    now += 1;
    expect(await failure(check('moved.example.test', 2775, PORTAL_B))).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    for (const err of await Promise.all(stalled)) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    names.releaseStuck();
    expect(await check('moved.example.test', 2775, PORTAL_B)).toBe('127.0.0.2');
    expect(lookupsOf('moved.example.test')).toBe(2);
  });

  it('a stale answer is refreshed in the background: the next connection gets the new address, and a name that has no address any more is not served again', async () => {
    let now = Date.UTC(2026, 11, 1);
    const answers: Record<string, string[]> = { 'kannel.example.test': ['127.0.0.1'] };
    const names = scriptedResolver(answers, []);
    const check = createGatewayAddressCheck({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: (h) => names.lookup(h), connectTimeoutMs: 100, clock: () => now });
    expect(await check('kannel.example.test', 13013, PORTAL_A)).toBe('127.0.0.1');
    answers['kannel.example.test'] = ['127.0.0.3'];
    now += KEEP_ANSWER_MS;
    expect(await check('kannel.example.test', 13013, PORTAL_A)).toBe('127.0.0.1'); // served while looked up again
    await new Promise((r) => setImmediate(r));
    expect(await check('kannel.example.test', 13013, PORTAL_A)).toBe('127.0.0.3');
    delete answers['kannel.example.test'];
    now += KEEP_ANSWER_MS;
    expect(await check('kannel.example.test', 13013, PORTAL_A)).toBe('127.0.0.3');
    await new Promise((r) => setImmediate(r));
    expect(await failure(check('kannel.example.test', 13013, PORTAL_A))).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('portals whose lookups outlasted a wait share one slot for SLOW_TENANT_MS: hanging again, three of them hold one lookup, and a portal never seen before still gets its address', async () => {
    let now = Date.UTC(2026, 11, 1);
    const slow = ['slow1.example.test', 'slow2.example.test', 'slow3.example.test'];
    const names = scriptedResolver({ 'new.example.test': ['127.0.0.1'], 'later.example.test': ['127.0.0.1'] }, slow);
    const check = createGatewayAddressCheck({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100, clock: () => now });
    const slowLookups = () => names.calls.filter((h) => h.startsWith('slow')).length;
    const hang = () => Promise.all(slow.map((host, i) => failure(check(host, 2775, 10 + i))));

    // The first time, nobody knows them: their three lookups take every slot, and every caller gives up.
    const first = hang();
    await Promise.all(slow.map((host) => names.asked(host)));
    expect(await failure(check('new.example.test', 2775, PORTAL_C))).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    for (const err of await first) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    names.releaseStuck(); // the resolver's timeout ends them
    await new Promise((r) => setImmediate(r));
    expect(slowLookups()).toBe(3);

    // Now they are slow: one of them looks up at a time, and the other slots stay for everybody else.
    const again = hang();
    expect(await check('new.example.test', 2775, PORTAL_C)).toBe('127.0.0.1');
    for (const err of await again) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    expect(slowLookups()).toBe(4);
    names.releaseStuck();
    await new Promise((r) => setImmediate(r));

    // SLOW_TENANT_MS after their last slow lookup they are like everybody else again.
    now += SLOW_TENANT_MS;
    const third = hang();
    await new Promise((r) => setImmediate(r)); // this service's own name is looked up again first: a minute passed
    expect(slowLookups()).toBe(7);
    expect(await failure(check('later.example.test', 2775, PORTAL_C))).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    await third;
    names.releaseStuck();
  });

  it('two portals whose names never answer each hold their own lookup, and a third portal still connects: by Kannel and by SMPP', async () => {
    kannel.setBehaviour({ kind: 'kannel' });
    const names = scriptedResolver({ 'ok.example.test': ['127.0.0.1'] }, ['slow1.example.test', 'slow2.example.test']);
    const options = { allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100 };
    const guard = createGatewayDispatcher(options);
    const smppCheck = createGatewayAddressCheck(options);
    const gateways = createGatewayFactory({ smsruUrl: 'http://127.0.0.1:9', dispatcher: guard, tenantDispatcher: guard, timeoutMs: 3_000 });
    const kannelOf = (host: string, owner: number) =>
      gateways('kannel', { url: `http://${host}:${kannel.port}`, username: kannel.username, password: kannel.password }, { owner });

    const stalled = [
      kannelOf('slow1.example.test', PORTAL_A).checkCredentials(),
      kannelOf('slow2.example.test', PORTAL_B).checkCredentials(),
      failure(smppCheck('slow1.example.test', 2775, PORTAL_A)),
      failure(smppCheck('slow2.example.test', 2775, PORTAL_B)),
    ];
    await Promise.all([names.asked('slow1.example.test'), names.asked('slow2.example.test')]);

    expect(await kannelOf('ok.example.test', PORTAL_C).checkCredentials()).toEqual({ ok: true });
    expect(await failure(smppCheck('ok.example.test', 2775, PORTAL_C))).toBe('answered');
    const [kannelA, kannelB, smppA, smppB] = await Promise.all(stalled);
    for (const check of [kannelA, kannelB]) expect(check).toMatchObject({ ok: false, retryable: true });
    for (const err of [smppA, smppB]) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    names.releaseStuck();
    await Promise.all([guard.close(), ...[PORTAL_A, PORTAL_B, PORTAL_C].map((p) => guard.forPortal(p).close())]);
  });
});

describe('portals\' own agents', () => {
  it('an agent its portal has not asked for in AGENT_IDLE_MS is closed and forgotten; a portal that keeps sending keeps its own', async () => {
    let now = Date.UTC(2026, 11, 1);
    const names = scriptedResolver({ 'kannel.example.test': ['127.0.0.1'] }, []);
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, clock: () => now });
    const url = `http://kannel.example.test:${kannel.port}/cgi-bin/sendsms`;
    const send = (portalId: number) => httpRequest(url, { method: 'GET' }, { dispatcher: guard.forPortal(portalId), timeoutMs: 3_000 });
    for (let portalId = 1; portalId <= 50; portalId++) expect((await send(portalId)).status).toBe(200);
    expect(guard.portalAgents()).toBe(50);
    now += AGENT_IDLE_MS / 2;
    const busy = guard.forPortal(7); // portal 7 sends again; the other 49 fall silent
    now += AGENT_IDLE_MS / 2;
    expect(guard.forPortal(7)).toBe(busy);
    expect(guard.portalAgents()).toBe(1);
    // A portal that sends again after a long pause gets a new agent, and it reaches its gateway.
    expect((await send(3)).status).toBe(200);
    expect(guard.portalAgents()).toBe(2);
    await Promise.all([guard.close(), guard.forPortal(7).close(), guard.forPortal(3).close()]);
  });
});
