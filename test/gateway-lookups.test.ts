import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGatewayDispatcher, GATEWAY_LOOKUP_TIMEOUT } from '../src/platform/address-guard.js';
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

  it('never runs more than two lookups at once: a name beyond the bound waits, gives up at the connect timeout without being looked up, and names go through once a slot frees', async () => {
    const names = scriptedResolver({ 'kannel.example.test': ['127.0.0.1'] }, ['a.stuck.test', 'b.stuck.test', 'c.stuck.test']);
    const guard = createGatewayDispatcher({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: names.lookup, connectTimeoutMs: 100 });
    const attempts: Array<Promise<unknown>> = [];
    for (const host of ['a.stuck.test', 'b.stuck.test']) {
      attempts.push(failure(get(`http://${host}:${kannel.port}/`, guard)), failure(get(`http://${host}:${kannel.port}/`, guard)));
      await names.asked(host);
    }
    attempts.push(failure(get(`http://c.stuck.test:${kannel.port}/`, guard)), failure(get(`http://kannel.example.test:${kannel.port}/`, guard)));

    for (const err of await Promise.all(attempts)) expect(err).toMatchObject({ code: GATEWAY_LOOKUP_TIMEOUT });
    expect(names.most).toBeLessThanOrEqual(2);

    names.releaseStuck(); // the stuck lookups end, as getaddrinfo does at the resolver's timeout
    expect((await get(`http://kannel.example.test:${kannel.port}/`, guard)).status).toBe(200);
    // Nobody wanted c.stuck.test any more when a slot freed: it was never looked up.
    expect(names.calls).not.toContain('c.stuck.test');
    expect(names.most).toBeLessThanOrEqual(2);
    await guard.close();
  });
});
