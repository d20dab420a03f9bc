import type { Dispatcher } from 'undici';
import { httpRequest } from '../platform/http.js';
import { transportOutcome, type CredentialCheck, type Gateway, type OutgoingSms, type SendOutcome } from './gateway.js';
import { kannelSendKind } from './kannel.codes.js';

/**
 * Kannel's smsbox (gateways.md §2). It returns no message id, so our own id travels in the dlr-url and
 * every report (dlr-mask=31: all five types) comes back to /dlr/kannel/… carrying it. That also settles
 * an unknown outcome: if the request reached Kannel, its reports will say so.
 */
export function createKannelGateway(opts: {
  url: string;
  username: string;
  password: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
}): Gateway {
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };
  const base = opts.url.replace(/\/+$/, '');

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
    const text = res.text.trim().slice(0, 300);
    const kind = kannelSendKind(res.status);
    return { kind, code: String(res.status), text } as SendOutcome;
  }

  /**
   * Kannel has no account API. A sendsms call without a receiver tells the two apart:
   * bad credentials answer 403, good ones 400 ("missing receiver"), and nothing is sent.
   */
  async function checkCredentials(): Promise<CredentialCheck> {
    try {
      const q = new URLSearchParams({ username: opts.username, password: opts.password, text: 'credential check' });
      const res = await httpRequest(`${base}/cgi-bin/sendsms?${q}`, { method: 'GET' }, http);
      if (res.status === 403) return { ok: false, reason: `Kannel refused the username or password (${res.text.trim()})` };
      if (res.status >= 500) return { ok: false, reason: `Kannel is not available (HTTP ${res.status})`, retryable: true };
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `Kannel could not be reached at ${base} (${(err as { code?: string }).code ?? 'error'})`, retryable: true };
    }
  }

  return { name: 'kannel', send, checkCredentials, resolvesUnknownOutcome: true };
}
