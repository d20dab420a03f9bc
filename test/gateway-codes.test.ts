import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { createGatewayFactory, GATEWAYS, SETTLES_UNKNOWN_OUTCOME } from '../src/gateways/index.js';
import type { SmppPool } from '../src/gateways/smpp/pool.js';
import { SMSRU_SEND_CODES, SMSRU_STATUS, smsruSendKind, smsruStatus } from '../src/gateways/smsru.codes.js';
import { KANNEL_DLR, kannelDlr, kannelSendKind } from '../src/gateways/kannel.codes.js';
import { answerExcerpt, transportOutcome } from '../src/gateways/gateway.js';
import { createKannelGateway } from '../src/gateways/kannel.js';
import { createSmsRuGateway } from '../src/gateways/smsru.js';
import { createDispatcher } from '../src/platform/http.js';
import { startFakeKannel, type FakeKannel } from './fakes/kannel.js';

// Expected readings copied from gateways.md §1, one row each.
const smsruSend: Array<[number, string]> = [
  [100, 'accepted'], [200, 'permanent'], [201, 'permanent'], [202, 'permanent'], [203, 'permanent'], [204, 'permanent'],
  [205, 'permanent'], [206, 'permanent'], [207, 'permanent'], [208, 'permanent'], [209, 'permanent'], [210, 'permanent'],
  [211, 'permanent'], [212, 'permanent'], [213, 'permanent'], [214, 'permanent'], [215, 'permanent'], [216, 'permanent'],
  [217, 'permanent'], [220, 'retryable'], [221, 'permanent'], [230, 'permanent'], [231, 'permanent'], [232, 'permanent'],
  [233, 'permanent'], [300, 'permanent'], [301, 'permanent'], [302, 'permanent'], [500, 'retryable'], [501, 'permanent'],
  [502, 'permanent'], [503, 'permanent'], [504, 'permanent'], [505, 'permanent'], [506, 'permanent'], [507, 'permanent'],
  [508, 'permanent'], [550, 'permanent'],
];
const smsruStatuses: Array<[number, string]> = [
  [-1, 'failed'], [100, 'sent'], [101, 'sent'], [102, 'sent'], [103, 'delivered'], [104, 'undelivered'], [105, 'undelivered'],
  [106, 'undelivered'], [107, 'undelivered'], [108, 'undelivered'], [110, 'delivered'], [150, 'failed'],
];

describe('SMS.ru mapping tables', () => {
  it('cover every documented code', () => {
    expect(Object.keys(SMSRU_SEND_CODES).map(Number).sort()).toEqual(smsruSend.map(([c]) => c).sort());
    expect(Object.keys(SMSRU_STATUS).map(Number).sort()).toEqual(smsruStatuses.map(([c]) => c).sort());
  });
  it.each(smsruSend)('send code %i → %s', (code, kind) => expect(smsruSendKind(code)).toBe(kind));
  it.each(smsruStatuses)('status %i → %s', (code, state) => expect(smsruStatus(code, 't')).toEqual({ state, code: String(code), text: 't' }));
  it('treats an undocumented code as permanent and an unknown status as nothing', () => {
    expect(smsruSendKind(999)).toBe('permanent');
    expect(smsruStatus(999)).toBeUndefined();
  });
});

describe('Kannel mapping tables', () => {
  it.each([[1, 'delivered'], [2, 'undelivered'], [4, 'sent'], [8, 'sent'], [16, 'failed']] as const)('DLR type %i → %s', (type, state) => {
    expect(kannelDlr(type)?.state).toBe(state);
    expect(KANNEL_DLR[type]?.state).toBe(state);
  });
  it('keeps the SMSC reply in the status text, and ignores unknown types', () => {
    expect(kannelDlr(2, 'id:1 stat:UNDELIV err:001')?.text).toBe('not delivered to phone: id:1 stat:UNDELIV err:001');
    expect(kannelDlr(3)).toBeUndefined();
  });
  it('keeps no part of the message a receipt quotes (its text: field), whatever its case', () => {
    const receipt = 'id:77 sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:001 text:Your login code is 482913';
    expect(kannelDlr(2, receipt)?.text).toBe('not delivered to phone: id:77 sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:001');
    expect(kannelDlr(1, 'id:7 stat:DELIVRD err:000 Text:Код 1234')?.text).toBe('delivered to phone: id:7 stat:DELIVRD err:000');
    expect(kannelDlr(1, 'text:only a quote')?.text).toBe('delivered to phone');
    expect(kannelDlr(1, 'context:1 stat:DELIVRD')?.text).toBe('delivered to phone: context:1 stat:DELIVRD'); // a word ending in "text:" is not the field
  });
  it.each([[202, 'accepted'], [200, 'accepted'], [503, 'retryable'], [500, 'retryable'], [403, 'permanent'], [400, 'permanent']] as const)(
    'sendsms HTTP %i → %s', (status, kind) => expect(kannelSendKind(status)).toBe(kind));
});

describe('a 502 or 504 from a proxy in front of a gateway, after the request was sent', () => {
  let proxy: FakeKannel;
  const dispatcher = createDispatcher();
  const sms = { id: 1, to: '+79991234567', text: 'hi', sender: '', dlrUrl: 'https://x/dlr', unicode: false };
  beforeAll(async () => {
    proxy = await startFakeKannel();
  });
  afterAll(async () => proxy.close());

  it('Kannel\'s 403 "Not routable" (smsbox: no SMS centre takes the number) is failed saying so, not as a wrong password', async () => {
    const kannel = createKannelGateway({ url: proxy.url, username: 'tester', password: 'foobar', dispatcher, timeoutMs: 2000 });
    proxy.setBehaviour({ kind: 'answer', status: 403, body: 'Not routable. Do not try again.' });
    expect(await kannel.send(sms)).toMatchObject({ kind: 'permanent', text: expect.stringMatching(/no route for this number/) });
    proxy.setBehaviour({ kind: 'answer', status: 403, body: 'Authorization failed for sendsms' });
    expect(await kannel.send(sms)).toMatchObject({ kind: 'permanent', text: 'Kannel refused the username or password' });
  });

  it.each([[502, 'unknown'], [504, 'unknown'], [503, 'retryable'], [500, 'retryable']] as const)('Kannel sendsms HTTP %i → %s', (status, kind) => {
    expect(kannelSendKind(status)).toBe(kind);
  });

  // SMS.ru's own errors come as JSON: any other 5xx but 503 may follow its taking the message (so no retry there).
  it.each([[502, 'unknown', 'unknown'], [504, 'unknown', 'unknown'], [503, 'retryable', 'retryable'], [500, 'retryable', 'unknown'], [429, 'retryable', 'retryable']] as const)(
    'HTTP %i through Kannel → %s, through SMS.ru → %s, in plain words', async (status, kannelKind, smsruKind) => {
      proxy.setBehaviour({ kind: 'answer', status, body: '<html><body>nginx bad gateway</body></html>' });
      const kannel = createKannelGateway({ url: proxy.url, username: 'u', password: 'p', dispatcher, timeoutMs: 2000 });
      const smsru = createSmsRuGateway({ baseUrl: proxy.url, apiKey: 'k', dispatcher, timeoutMs: 2000 });
      for (const [outcome, kind] of [[await kannel.send(sms), kannelKind], [await smsru.send(sms), smsruKind]] as const) {
        expect(outcome.kind).toBe(kind);
        expect(outcome.text).not.toContain('nginx');
        if (kind === 'unknown') expect(outcome.text).toMatch(/^outcome unknown: /);
      }
    });
});

describe('gateway answers in the logs', () => {
  it('are one bounded line with secrets and long numbers masked', () => {
    const e = answerExcerpt(`user=bob&password=s3cr%21t\r\nto=79991234567\u0000 ${'x'.repeat(500)}`, ['s3cr!t']);
    expect(e.length).toBeLessThanOrEqual(200);
    expect(e).not.toMatch(/[\r\n\u0000]/);
    expect(e).toContain('password=[redacted]');
    expect(e).toContain('*******4567');
  });
});

describe('transport failures', () => {
  it.each(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND'])('%s never reached the gateway: retryable', (code) => {
    expect(transportOutcome(Object.assign(new Error(), { code })).kind).toBe('retryable');
  });
  it.each(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET'])('%s may have reached it: unknown', (code) => {
    expect(transportOutcome(Object.assign(new Error(), { code })).kind).toBe('unknown');
  });
});

describe('what a dead worker left in flight', () => {
  it('is decided by a table that says of each gateway kind what its adapter says (resolvesUnknownOutcome)', () => {
    const factory = createGatewayFactory({ smsruUrl: 'http://127.0.0.1:9', dispatcher: new Agent(), tenantDispatcher: new Agent(), timeoutMs: 1000, smpp: {} as SmppPool });
    for (const kind of GATEWAYS) {
      const adapter = factory(kind, { url: 'http://127.0.0.1:9/cgi-bin/sendsms', host: '127.0.0.1', port: '2775', system_id: 'x', password: 'y' }, { portalId: 1 });
      expect([kind, SETTLES_UNKNOWN_OUTCOME[kind]]).toEqual([kind, adapter.resolvesUnknownOutcome]);
    }
  });
});
