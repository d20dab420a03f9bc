import { z } from 'zod';
import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import { httpRequest } from '../platform/http.js';
import {
  answerExcerpt, plainText, transportOutcome, unknownOutcome,
  type CredentialCheck, type Gateway, type GatewayStatus, type LookupResult, type OutgoingSms, type SendOutcome,
} from './gateway.js';
import { isSmscruNotFound, SMSCRU_RETRY_AFTER_MS, smscruSendError, smscruStatus } from './smscru.codes.js';
import { CREDENTIAL_REFUSALS_PER_MINUTE, REFUSED_CREDENTIALS_MS, type SmscRuLimits } from './smscru-limits.js';

/** SMSC.ru takes at most this many characters in `mes` (gateways.md §5); a longer text fails without a request. */
export const SMSCRU_MAX_CHARS = 1_000;
/** Ids in one mass status request. SMSC documents no maximum; one such request a minute carries this many. */
export const SMSCRU_STATUS_BATCH = 100;

const num = z.coerce.number();
const errorAnswer = z.looseObject({ error: z.string().optional(), error_code: num, id: z.union([z.string(), z.number()]).optional() });
const sendAnswer = z.looseObject({ id: z.union([z.string(), z.number()]), cnt: num, cost: z.unknown().optional(), balance: z.unknown().optional() });
const statusEntry = z.looseObject({
  id: z.union([z.string(), z.number()]).optional(),
  phone: z.union([z.string(), z.number()]).optional(),
  status: num,
  err: num.optional(),
});
const balanceAnswer = z.looseObject({ balance: num });

/**
 * A status request SMSC refused or we did not make; the statuses job tries again on its next run. `oneMessage`: the
 * refusal is about the message asked for, not the login or this server (Gateway.lookup), so the others are still asked.
 */
class StatusUnavailable extends Error {
  constructor(readonly code: string, message: string, readonly oneMessage = false) {
    super(message);
  }
}

/**
 * SMSC.ru (gateways.md §5): POST form bodies to /sys/<cmd>.php with fmt=3 (JSON) and charset=utf-8 (its default is
 * windows-1251). One number per send request, with OUR message id as SMSC's `id`: a message whose answer was lost
 * can then be looked up by the id we already have (`lookup`), which is what settles an unknown outcome here. A
 * batch (`list=`) would share one id and report no per-number errors, so it cannot do that.
 *
 * Everything per login that SMSC limits (concurrent requests, one mass status request a minute, its block after
 * error 4, refused credentials) is kept in `limits`, shared by the process's adapters (smscru-limits.ts).
 */
export function createSmscRuGateway(opts: {
  baseUrl: string;
  login: string;
  password: string;
  limits: SmscRuLimits;
  dispatcher: Dispatcher;
  timeoutMs: number;
  log?: Log;
  /** Whose account: its credential checks are throttled per portal (smscru-limits.ts). Without one, they are not. */
  portalId?: number;
}): Gateway {
  const http = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs };
  const { limits, login, password } = opts;

  type Answer = { httpError: number } | { json: unknown; text: string };
  /** One request in one of the login's slots; the deadline runs from when it leaves, not while it waits for a slot. */
  function call(cmd: 'send' | 'status' | 'balance', params: Record<string, string>): Promise<Answer> {
    return limits.inSlot(login, async () => {
      const body = new URLSearchParams({ login, psw: password, fmt: '3', charset: 'utf-8', ...params }).toString();
      const res = await httpRequest(`${opts.baseUrl}/sys/${cmd}.php`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }, http);
      // SMSC answers everything, errors included, with HTTP 200; `httpError: 0` is a 200 that is not JSON.
      if (res.status !== 200 || res.json === undefined) {
        opts.log?.warn({ gateway: 'smscru', cmd, status: res.status, answer: answerExcerpt(res.text, [password, login, params.mes ?? '']) }, 'gateway.answer');
        return { httpError: res.status === 200 ? 0 : res.status };
      }
      return { json: res.json, text: res.text };
    });
  }

  /** An `error_code` answer; error 4 (this server's address blocked) stops every request to SMSC for a while. */
  function errorOf(json: unknown) {
    const e = errorAnswer.safeParse(json);
    if (!e.success) return undefined;
    if (e.data.error_code === 4) limits.block(SMSCRU_RETRY_AFTER_MS.blocked);
    return e.data;
  }

  async function send(sms: OutgoingSms): Promise<SendOutcome> {
    if (sms.text.length > SMSCRU_MAX_CHARS) {
      return { kind: 'permanent', code: 'TOO_LONG', text: `text too long for SMSC.ru: ${sms.text.length} characters, at most ${SMSCRU_MAX_CHARS}` };
    }
    const blocked = limits.blockedFor();
    if (blocked > 0) return { kind: 'retryable', code: '4', text: smscruSendError(4).text, retryAfterMs: blocked, throttled: true };
    // Each refusal counts towards SMSC blocking this server's address for every tenant (error 4): ask again later only.
    if (limits.refusedNow(login, password)) return { kind: 'permanent', code: '2', text: smscruSendError(2).text };

    const params: Record<string, string> = {
      // A leading + keeps SMSC from "correcting" a number we already normalised (gateways.md §5).
      phones: `+${digits(sms.to)}`,
      mes: sms.text,
      // Our id (1..2147483647, or up to 40 of [A-Za-z0-9.-_]): what lookups and status requests name the message by.
      id: String(sms.id),
      // 3 = send, and answer with the cost and balance: one answer shape whatever the account, and the cost in the log.
      cost: '3',
    };
    if (sms.sender) params.sender = sms.sender;
    let r: Answer;
    try {
      r = await call('send', params);
    } catch (err) {
      return transportOutcome(err);
    }
    if ('httpError' in r) {
      const status = r.httpError;
      // A proxy that passed the request on and lost the answer, or an answer we cannot read: SMSC may have it.
      if (status === 0) return unknownOutcome('UNREADABLE', 'unreadable SMSC.ru answer');
      if (status === 502 || status === 504) return unknownOutcome(`HTTP_${status}`, `no answer through the proxy in front of SMSC.ru (HTTP ${status})`);
      // A 5xx may come after SMSC took the send: sent again, it would go out twice (and the second try would only
      // hear error 9, "the same send within a minute"). A lookup by our id settles it instead.
      if (status >= 500) return unknownOutcome(`HTTP_${status}`, `SMSC.ru answered HTTP ${status}; it may have taken the message`);
      if (status === 429) return { kind: 'retryable', code: `HTTP_${status}`, text: `SMSC.ru answered HTTP ${status}` };
      return { kind: 'permanent', code: `HTTP_${status}`, text: `no SMSC.ru send service at this address (HTTP ${status})` };
    }
    const e = errorOf(r.json);
    if (e) {
      const reading = smscruSendError(e.error_code);
      if (e.error_code === 2) limits.refuse(login, password);
      if (reading.kind === 'permanent') return { kind: 'permanent', code: String(e.error_code), text: reading.text };
      return {
        kind: 'retryable', code: String(e.error_code), text: reading.text, throttled: reading.throttle !== undefined,
        ...(reading.throttle ? { retryAfterMs: SMSCRU_RETRY_AFTER_MS[reading.throttle] } : {}),
      };
    }
    const ok = sendAnswer.safeParse(r.json);
    if (!ok.success) {
      opts.log?.warn({ gateway: 'smscru', cmd: 'send', answer: answerExcerpt(r.text, [password, login, sms.text]) }, 'gateway.answer');
      return unknownOutcome('UNREADABLE', 'unreadable SMSC.ru answer');
    }
    limits.accepted(login, password);
    const cost = typeof ok.data.cost === 'string' || typeof ok.data.cost === 'number' ? `, cost ${plainText(String(ok.data.cost)).slice(0, 16)}` : '';
    return { kind: 'accepted', gatewayMessageId: String(ok.data.id), code: 'accepted', text: `accepted: ${ok.data.cnt} SMS${cost}` };
  }

  /** The answer to a status request as entries, or the reason it has none (thrown: try again on the next run). */
  async function askStatus(params: Record<string, string>): Promise<unknown> {
    const blocked = limits.blockedFor();
    if (blocked > 0) throw new StatusUnavailable('4', `SMSC.ru blocks this server for ${Math.ceil(blocked / 1000)} s more`);
    const r = await call('status', params);
    if ('httpError' in r) throw new StatusUnavailable(`HTTP_${r.httpError}`, `SMSC.ru status answered HTTP ${r.httpError}`);
    const e = errorOf(r.json);
    // 2 (login, or this server not allowed), 4 (this server blocked) and 9 (too many status requests) hold for every
    // message of the login; other refusals (1: parameters) are about the one asked for.
    if (e) throw new StatusUnavailable(String(e.error_code), `SMSC.ru refused the status request (error ${e.error_code})`, ![2, 4, 9].includes(e.error_code));
    return r.json;
  }

  /**
   * The multi form (comma lists of numbers and ids in the same order; a trailing comma keeps it for one message), at
   * most once a minute per login across every process, portal and run: the gate is asked first.
   */
  async function fetchStatuses(ids: string[], phones: string[]): Promise<Map<string, GatewayStatus>> {
    const out = new Map<string, GatewayStatus>();
    const pairs = ids.map((id, i) => ({ id, phone: digits(phones[i] ?? '') })).filter((p) => p.phone);
    if (!pairs.length) return out;
    const wait = await limits.massStatus(login);
    if (wait > 0) throw new StatusUnavailable('RATE', `one SMSC.ru status request a minute per login: the next in ${Math.ceil(wait / 1000)} s`);
    const json = await askStatus({ phone: `${pairs.map((p) => p.phone).join(',')},`, id: `${pairs.map((p) => p.id).join(',')},` });
    const entries = Array.isArray(json) ? json : [json];
    for (const [i, raw] of entries.entries()) {
      const e = statusEntry.safeParse(raw);
      // Entries name their id; one without is placed by its position, as SMSC answers in the order asked (unconfirmed).
      const byPosition = entries.length === pairs.length ? pairs[i]!.id : undefined;
      const id = e.success ? (e.data.id !== undefined ? String(e.data.id) : byPosition) : undefined;
      const s = e.success && id !== undefined ? smscruStatus(e.data.status, e.data.err) : undefined;
      if (id !== undefined && s) out.set(id, s);
    }
    return out;
  }

  /** The single form (not a mass request): one message by OUR id and its number. */
  async function lookup(sms: { id: number; to: string }): Promise<LookupResult> {
    let json;
    try {
      json = await askStatus({ phone: digits(sms.to), id: String(sms.id) });
    } catch (err) {
      // SMSC's status page: error 3 "message not found"; only the multi form answers it as status -3.
      if (err instanceof StatusUnavailable && err.code === '3') return { kind: 'notFound' };
      throw err;
    }
    const e = statusEntry.safeParse(Array.isArray(json) ? json[0] : json);
    if (!e.success) throw new StatusUnavailable('UNREADABLE', 'unreadable SMSC.ru status answer', true);
    if (isSmscruNotFound(e.data.status)) return { kind: 'notFound' };
    // Found in a state we do not know: it arrived, and polling will tell the rest.
    const status = smscruStatus(e.data.status, e.data.err) ?? { state: 'sent', code: String(e.data.status), text: `SMSC.ru status ${e.data.status}` };
    return { kind: 'found', gatewayMessageId: String(sms.id), status };
  }

  /**
   * balance.php: checks the login and password and tells the balance (SMSC allows 10 such requests a minute). Every
   * refusal counts towards SMSC blocking this server for every portal (error 4), so, as for sends, nothing is asked
   * while blocked or with a pair SMSC just refused, and a portal whose checks were refused a few times in a minute waits.
   */
  async function checkCredentials(): Promise<CredentialCheck> {
    const blocked = limits.blockedFor();
    if (blocked > 0) return { ok: false, ...blockedCheck(blocked), retryable: true };
    if (limits.refusedNow(login, password)) {
      const min = REFUSED_CREDENTIALS_MS / 60_000;
      return { ok: false, reason: `SMSC.ru refused this login or password within the last ${min} min (or this server's address is not on the account's allowed list); the same ones are not tried again before then`, code: 'refused_recently', details: [String(min)] };
    }
    const wait = opts.portalId === undefined ? 0 : limits.credentialCheckWait(opts.portalId);
    if (wait > 0) {
      const s = Math.ceil(wait / 1000);
      return { ok: false, reason: `SMSC.ru refused ${CREDENTIAL_REFUSALS_PER_MINUTE} logins or passwords from this portal within a minute; try again in ${s} s`, code: 'too_many_refusals', details: [String(CREDENTIAL_REFUSALS_PER_MINUTE), String(s)], retryable: true };
    }
    let r: Answer;
    try {
      r = await call('balance', {});
    } catch (err) {
      opts.log?.warn({ gateway: 'smscru', error: (err as { code?: string }).code ?? 'error' }, 'gateway.check.unreachable');
      return { ok: false, reason: 'SMSC.ru could not be reached', code: 'unreachable', retryable: true };
    }
    if ('httpError' in r) {
      const status = r.httpError;
      if (status >= 500 || status === 429) return { ok: false, reason: `SMSC.ru is not available (HTTP ${status})`, code: 'unavailable', details: [String(status)], retryable: true };
      return { ok: false, reason: `This address does not answer like SMSC.ru${status ? ` (HTTP ${status})` : ''}`, code: 'not_this_service', details: [status ? String(status) : ''], retryable: true };
    }
    const e = errorOf(r.json);
    if (e?.error_code === 2) {
      limits.refuse(login, password);
      if (opts.portalId !== undefined) limits.credentialCheckRefused(opts.portalId);
      return { ok: false, reason: 'SMSC.ru refused the login or password (or this server\'s address is not on the account\'s allowed list)', code: 'credentials_refused' };
    }
    if (e?.error_code === 4) return { ok: false, ...blockedCheck(SMSCRU_RETRY_AFTER_MS.blocked), retryable: true };
    if (e?.error_code === 9) return { ok: false, reason: 'SMSC.ru asks to wait a minute before checking again', code: 'wait_a_minute', retryable: true };
    if (e) return { ok: false, reason: `SMSC.ru refused the check (error ${e.error_code})`, code: 'refused_check', details: [String(e.error_code)] };
    const b = balanceAnswer.safeParse(r.json);
    if (!b.success) return { ok: false, reason: 'This address does not answer like SMSC.ru', code: 'not_this_service', details: [''], retryable: true };
    limits.accepted(login, password);
    return { ok: true, balance: b.data.balance };
  }

  return {
    name: 'smscru', send, checkCredentials, fetchStatuses, statusBatchSize: SMSCRU_STATUS_BATCH, lookup, resolvesUnknownOutcome: true,
  };
}

const digits = (e164: string) => e164.replace(/\D/g, '');
const blockedCheck = (ms: number) => {
  const min = Math.max(1, Math.ceil(ms / 60_000));
  return { reason: `SMSC.ru has blocked requests from this server for a while (too many bad requests); try again in ${min} min`, code: 'blocked', details: [String(min)] };
};
