import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import { httpRequest } from '../platform/http.js';
import { GATEWAY_ADDRESS_FORBIDDEN } from '../platform/address-guard.js';
import { ADDRESS_FORBIDDEN_REASON, answerExcerpt, transportOutcome, unknownOutcome, type CredentialCheck, type Gateway, type OutgoingSms, type SendOutcome } from './gateway.js';
import { kannelSendKind, kannelSendText } from './kannel.codes.js';

/**
 * Kannel's smsbox (gateways.md §2). It returns no message id, so our own id travels in the dlr-url and
 * every report (dlr-mask=31: all five types) comes back to /dlr/kannel/… carrying it. That also settles
 * an unknown outcome: if the request reached Kannel, its reports will say so.
 *
 * The URL is typed by a portal's administrator, so whatever answers there is untrusted: its body is mapped to
 * words by status code and only a masked excerpt reaches the logs.
 */
export function createKannelGateway(opts: {
  url: string;
  username: string;
  password: string;
  /**
   * The sendsms-user's max-messages in kannel.conf, as the portal's administrator entered it. Kannel cuts a text
   * that needs more parts to that many without a word (its default is 1), so such a text is failed before it is sent.
   */
  maxParts?: number;
  dispatcher: Dispatcher;
  timeoutMs: number;
  log?: Log;
}): Gateway {
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };
  const base = opts.url.replace(/\/+$/, '');

  function logAnswer(event: string, status: number, body: string, fields: Record<string, unknown> = {}, secrets: string[] = []) {
    opts.log?.warn({ gateway: 'kannel', status, answer: answerExcerpt(body, [opts.password, opts.username, ...secrets]), ...fields }, event);
  }

  async function send(sms: OutgoingSms): Promise<SendOutcome> {
    const params = new URLSearchParams({
      username: opts.username,
      password: opts.password,
      to: sms.to,
      text: sms.text,
      charset: 'UTF-8',
      coding: sms.unicode ? '2' : '0',
      'dlr-mask': '31',
      'dlr-url': sms.dlrUrl,
    });
    if (sms.sender) params.set('from', sms.sender);
    let res;
    try {
      // GET: Kannel's POST form of sendsms wants the text as the raw body ("400 Invalid content-type" otherwise).
      res = await httpRequest(`${base}/cgi-bin/sendsms?${params}`, { method: 'GET' }, http);
    } catch (err) {
      return transportOutcome(err);
    }
    const kind = kannelSendKind(res.status);
    if (kind !== 'accepted') logAnswer('gateway.answer', res.status, res.text, { messageId: sms.id }, [sms.text]);
    const code = String(res.status);
    const text = kannelSendText(res.status, res.text);
    return kind === 'unknown' ? unknownOutcome(code, text) : { kind, code, text };
  }

  /**
   * Kannel has no account API. A sendsms call without a receiver tells the two apart:
   * bad credentials answer 403, good ones 400 ("missing receiver"), and nothing is sent.
   */
  async function checkCredentials(): Promise<CredentialCheck> {
    let res;
    try {
      const q = new URLSearchParams({ username: opts.username, password: opts.password, text: 'credential check' });
      res = await httpRequest(`${base}/cgi-bin/sendsms?${q}`, { method: 'GET' }, http);
    } catch (err) {
      if ((err as { code?: string }).code === GATEWAY_ADDRESS_FORBIDDEN) return { ok: false, reason: capitalise(ADDRESS_FORBIDDEN_REASON), addressRefused: true };
      opts.log?.warn({ gateway: 'kannel', error: (err as { code?: string }).code ?? 'error' }, 'gateway.check.unreachable');
      return { ok: false, reason: `Kannel could not be reached at ${base}`, code: 'unreachable', details: [base], retryable: true };
    }
    if (res.status === 400) return { ok: true };
    logAnswer('gateway.check.answer', res.status, res.text);
    if (res.status === 403) return { ok: false, reason: 'Kannel refused the username or password', code: 'credentials_refused' };
    if (res.status >= 500) return { ok: false, reason: `Kannel is not available (HTTP ${res.status})`, code: 'unavailable', details: [String(res.status)], retryable: true };
    return { ok: false, reason: `This address does not answer like Kannel's sendsms service (HTTP ${res.status}); check the address and port`, code: 'not_this_service', details: [String(res.status)] };
  }

  return { name: 'kannel', send, checkCredentials, maxSegments: opts.maxParts, resolvesUnknownOutcome: true };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
