import { z } from 'zod';
import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import { httpRequest } from '../platform/http.js';
import { answerExcerpt, plainText, transportOutcome, unknownOutcome, type CredentialCheck, type Gateway, type GatewayStatus, type OutgoingSms, type SendOutcome } from './gateway.js';
import { smsruSendKind, smsruStatus } from './smsru.codes.js';

const entry = z.object({
  status: z.string(),
  status_code: z.coerce.number(),
  status_text: z.string().optional(),
  sms_id: z.string().optional(),
});
const reply = z.looseObject({
  status: z.string(),
  status_code: z.coerce.number(),
  status_text: z.string().optional(),
  sms: z.record(z.string(), entry).optional(),
  balance: z.coerce.number().optional(),
});

/**
 * SMS.ru (gateways.md §1). JSON everywhere (json=1); POST form bodies, as the official client does. Only parsed
 * fields are kept (status_text as one short line); an unreadable answer reaches the logs as a masked excerpt.
 */
export function createSmsRuGateway(opts: { baseUrl: string; apiKey: string; dispatcher: Dispatcher; timeoutMs: number; log?: Log }): Gateway {
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };

  type Reply = { httpError: number; page?: boolean } | { data: z.infer<typeof reply> };
  async function call(path: string, params: Record<string, string>): Promise<Reply> {
    const body = new URLSearchParams({ api_id: opts.apiKey, json: '1', ...params }).toString();
    const res = await httpRequest(`${opts.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }, http);
    const parsed = res.status >= 500 || res.status === 429 ? undefined : reply.safeParse(res.json);
    if (parsed?.success) return { data: parsed.data };
    opts.log?.warn({ gateway: 'smsru', path, status: res.status, answer: answerExcerpt(res.text, [opts.apiKey, ...Object.entries(params).filter(([k]) => k === 'msg' || k.startsWith('to[')).map(([, v]) => v)]) }, 'gateway.answer');
    // An HTML page where the API answers JSON: something in front of SMS.ru (a firewall's challenge, a captive portal).
    return { httpError: res.status, page: /^\s*</.test(res.text ?? '') };
  }

  async function send(sms: OutgoingSms): Promise<SendOutcome> {
    return (await submit([sms], (to) => ({ to, msg: sms.text })))[0]!;
  }

  /** `to[<number>]=<text>` per recipient (gateways.md §1): one request, each number with its own result. */
  async function sendBatch(list: OutgoingSms[]): Promise<SendOutcome[]> {
    if (list.length <= 1) return Promise.all(list.map(send));
    return submit(list, () => Object.fromEntries(list.map((m) => [`to[${digits(m.to)}]`, m.text])));
  }

  const digits = (e164: string) => e164.replace(/^\+/, '');

  /** One sms/send request for `list` (one sender); one outcome per message, in order. */
  async function submit(list: OutgoingSms[], fields: (to: string) => Record<string, string>): Promise<SendOutcome[]> {
    const all = (o: SendOutcome) => list.map(() => o);
    const sender = list[0]!.sender;
    let r;
    try {
      r = await call('/sms/send', { ...fields(digits(list[0]!.to)), ...(sender ? { from: sender } : {}) });
    } catch (err) {
      return all(transportOutcome(err));
    }
    if ('httpError' in r) {
      // A reply we cannot read after the request was taken: SMS.ru may have queued it. So may it behind a proxy
      // that answers 502/504 after passing the request on.
      const status = r.httpError;
      // SMS.ru's API answers JSON, errors included (json=1): a 4xx that is not is a page of something in front of it
      // (a firewall, a proxy) that did not pass the request on, so it is tried again later, never failed unsent.
      if (status === 502 || status === 504) return all(unknownOutcome(`HTTP_${status}`, `no answer through the proxy in front of SMS.ru (HTTP ${status})`));
      // 429 and 503 say the request was not handled (RFC 9110 §15.6.4; nginx's own limits answer 503): sent later.
      if (status === 503 || status === 429) return all({ kind: 'retryable', code: `HTTP_${status}`, text: `SMS.ru answered HTTP ${status}` });
      // Any other 5xx may come after SMS.ru queued the messages (its own errors, status_code 500 included, come as
      // JSON, and are retried): sent again, they would go out twice.
      if (status >= 500) return all(unknownOutcome(`HTTP_${status}`, `SMS.ru answered HTTP ${status}; it may have taken the message`));
      if (status >= 400 || r.page) return all({ kind: 'retryable', code: `HTTP_${status}`, text: `the request did not reach SMS.ru's API (HTTP ${status}${r.page ? ', a page instead of its answer' : ''})` });
      return all(unknownOutcome(`HTTP_${status}`, `unreadable SMS.ru reply (HTTP ${status})`));
    }
    const d = r.data;
    // Top-level OK only means the request was accepted; each number has its own result.
    return list.map((m) => {
      const to = digits(m.to);
      const result = d.status === 'OK' ? (d.sms?.[to] ?? (list.length === 1 ? Object.values(d.sms ?? {})[0] : undefined)) : d;
      return result ? outcomeOf(result) : unknownOutcome('NO_RESULT', 'SMS.ru returned no result for the number');
    });
  }

  function outcomeOf(result: z.infer<typeof entry> | z.infer<typeof reply>): SendOutcome {
    const kind = result.status === 'OK' ? smsruSendKind(result.status_code) : smsruSendKind(result.status_code === 100 ? 500 : result.status_code);
    const code = String(result.status_code);
    const text = plainText(result.status_text ?? '');
    if (kind === 'accepted') {
      const id = (result as { sms_id?: unknown }).sms_id;
      if (typeof id !== 'string' || !id) return unknownOutcome(code, 'accepted without sms_id');
      return { kind, gatewayMessageId: id, code, text };
    }
    return { kind, code, text: text || `SMS.ru code ${code}` };
  }

  async function checkCredentials(): Promise<CredentialCheck> {
    try {
      const r = await call('/my/balance', {});
      if ('httpError' in r) return { ok: false, reason: `SMS.ru is not available (HTTP ${r.httpError})`, code: 'unavailable', details: [String(r.httpError)], retryable: true };
      if (r.data.status !== 'OK') {
        // SMS.ru's own words (Russian: "Неправильный api_id") are shown as they are; without them, ours.
        const words = plainText(r.data.status_text ?? '');
        if (words) return { ok: false, reason: `${words} (${r.data.status_code})` };
        return { ok: false, reason: `SMS.ru refused the key (${r.data.status_code})`, code: 'key_refused', details: [String(r.data.status_code)] };
      }
      return { ok: true, balance: r.data.balance };
    } catch (err) {
      opts.log?.warn({ gateway: 'smsru', error: (err as { code?: string }).code ?? 'error' }, 'gateway.check.unreachable');
      return { ok: false, reason: 'SMS.ru could not be reached', code: 'unreachable', retryable: true };
    }
  }

  async function fetchStatuses(ids: string[]): Promise<Map<string, GatewayStatus>> {
    const out = new Map<string, GatewayStatus>();
    const r = await call('/sms/status', { sms_id: ids.join(',') });
    if ('httpError' in r) throw Object.assign(new Error(`SMS.ru status HTTP ${r.httpError}`), { code: `HTTP_${r.httpError}` });
    if (r.data.status !== 'OK') throw Object.assign(new Error(r.data.status_text ?? 'SMS.ru status error'), { code: String(r.data.status_code) });
    for (const [id, e] of Object.entries(r.data.sms ?? {})) {
      const s = smsruStatus(e.status_code, e.status_text && plainText(e.status_text));
      if (s) out.set(id, s);
    }
    return out;
  }

  /** SMS.ru posts reports to URLs registered on the account (callback/add); add ours once. */
  async function ensureCallback(url: string): Promise<void> {
    const listed = await call('/callback/get', {});
    const urls = 'data' in listed ? ((listed.data as { callback?: unknown }).callback ?? []) : [];
    if (Array.isArray(urls) && urls.includes(url)) return;
    const added = await call('/callback/add', { url });
    if ('httpError' in added || added.data.status !== 'OK') {
      throw Object.assign(new Error('SMS.ru refused the callback URL'), { code: 'httpError' in added ? `HTTP_${added.httpError}` : String(added.data.status_code) });
    }
  }

  return { name: 'smsru', send, sendBatch, maxBatch: 100, maxSegments: 8, ensureCallback, checkCredentials, fetchStatuses, statusBatchSize: 100, resolvesUnknownOutcome: false };
}
