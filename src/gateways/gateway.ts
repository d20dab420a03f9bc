import type { FinalState } from '../messages/states.js';
import { HTTP_ANSWER_TOO_LARGE, HTTP_DEADLINE } from '../platform/http.js';
import { GATEWAY_ADDRESS_FORBIDDEN } from '../platform/address-guard.js';

/** Our reading of a gateway's status code: a state plus the gateway's own code and text, kept on the message. */
export interface GatewayStatus {
  state: 'sent' | FinalState;
  code: string;
  text: string;
}

export type SendOutcome =
  | { kind: 'accepted'; gatewayMessageId?: string; code: string; text: string }
  /**
   * Surely not taken. `retryAfterMs`: the gateway asked us to wait at least this long; `throttled`: it asked for fewer
   * requests, so the account's requests shrink to one at a time until one goes through quickly again.
   */
  | { kind: 'retryable'; code: string; text: string; retryAfterMs?: number; throttled?: boolean }
  | { kind: 'permanent'; code: string; text: string }
  /** The request may have reached the gateway (e.g. a timeout after it was written): never resend blindly. */
  | { kind: 'unknown'; code: string; text: UnknownOutcomeText };

export interface OutgoingSms {
  id: number;
  to: string; // E.164
  text: string;
  sender: string; // '' = the account's default sender
  dlrUrl: string; // where the gateway should report, for gateways that take it per message
  unicode: boolean;
}

/**
 * `addressRefused`: the address guard refused the gateway's address (a form may show the reason at the URL).
 * `code`: what went wrong, for words in the page's language: the gateway's own code (SMPP's ESME_RINVPASWD…) or
 * ours (src/web/i18n-reasons.ts), with `details` the values those words quote (an HTTP status, an address);
 * `about`: what it is about, so that a form shows it next to that field. `reason` says it in English (logs, tests).
 */
export type CredentialCheck =
  | { ok: true; balance?: number }
  | { ok: false; reason: string; retryable?: boolean; addressRefused?: boolean; code?: string; details?: string[]; about?: 'address' | 'login' | 'secret' };

/** One gateway account. Adapters get their HTTP dispatcher and timeouts from outside. */
export interface Gateway {
  readonly name: string;
  send(sms: OutgoingSms): Promise<SendOutcome>;
  /**
   * Several messages in one request, where the gateway takes that (SMS.ru: up to 100 recipients, each with its own
   * text). The caller passes at most `maxBatch` messages with one sender and no number twice, and gets one outcome per
   * message, in order.
   */
  sendBatch?(list: OutgoingSms[]): Promise<SendOutcome[]>;
  readonly maxBatch?: number;
  /** The most parts one message may have at this gateway (SMS.ru: 8); a longer text is failed without a request. */
  readonly maxSegments?: number;
  checkCredentials(): Promise<CredentialCheck>;
  /**
   * false when checkCredentials costs the account something and tells no balance (SMPP: a bind, where centres allow
   * few): the settings page then does not call it to show a balance.
   */
  readonly hasBalance?: boolean;
  /**
   * Bulk status lookup by gateway message id, where the gateway has one. `phones` are the messages' numbers (E.164),
   * in the same order, for gateways that find a message only by id and number together (SMSC.ru).
   */
  fetchStatuses?(ids: string[], phones: string[]): Promise<Map<string, GatewayStatus>>;
  readonly statusBatchSize?: number;
  /** Makes the gateway account post delivery reports to `url`, for gateways configured per account. */
  ensureCallback?(url: string): Promise<void>;
  /**
   * Whether an unknown outcome can still be settled: by the gateway telling us (a DLR carrying our own id), or by
   * asking it (`lookup`). When false, an unknown outcome is final: failed, "outcome unknown".
   */
  readonly resolvesUnknownOutcome: boolean;
  /**
   * Looks a message up by OUR id, for gateways that keep it (SMSC.ru): the statuses job asks after an unknown outcome.
   * `notFound` is the gateway's word that it has no such message. Throws when the gateway could not be asked; an
   * error with `oneMessage: true` was a refusal about this message alone (the portal's other messages are still asked).
   */
  lookup?(sms: { id: number; to: string }): Promise<LookupResult>;
}

/** What a gateway knows of one of our messages; `gatewayMessageId` is what its status lookups take. */
export type LookupResult = { kind: 'found'; gatewayMessageId: string; status: GatewayStatus } | { kind: 'notFound' };

export const UNKNOWN_OUTCOME = 'outcome unknown';
/**
 * An unknown outcome's words always open with UNKNOWN_OUTCOME: a message that ends on one is failed with them as
 * they are, and the people reading the log see why it was not sent again.
 */
export type UnknownOutcomeText = `${typeof UNKNOWN_OUTCOME}: ${string}`;

/** The request may have reached the gateway; `why` in plain words. */
export const unknownOutcome = (code: string, why: string): SendOutcome => ({ kind: 'unknown', code, text: `${UNKNOWN_OUTCOME}: ${why}` });

/** Shown wherever a gateway address was refused by the address guard. */
export const ADDRESS_FORBIDDEN_REASON = 'the gateway address is on a private or local network, which this service does not reach';

/**
 * Failures after the request may have been written: the outcome is unknown. A deadline that passed after
 * undici connected, and an answer too large to read, belong here: the gateway may have taken the message.
 */
const MAYBE_WRITTEN = new Set([
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_ABORTED',
  HTTP_DEADLINE, HTTP_ANSWER_TOO_LARGE,
]);

/**
 * A transport error: retryable when the request surely never left, unknown otherwise. Whatever the cause, the
 * words are the same ("could not be reached"): telling a refused connection from a silent one would let a
 * portal's administrator map ports through us. The code stays on the row for the operator.
 */
export function transportOutcome(err: unknown): SendOutcome {
  const code = String((err as { code?: string } | null)?.code ?? 'ERROR');
  if (code === GATEWAY_ADDRESS_FORBIDDEN) return { kind: 'permanent', code, text: ADDRESS_FORBIDDEN_REASON };
  if (MAYBE_WRITTEN.has(code)) return unknownOutcome(code, 'the gateway could not be reached (the request may have arrived)');
  return { kind: 'retryable', code, text: 'the gateway could not be reached' };
}

/**
 * For logs only, never for people: a gateway's answer as one bounded line, control characters stripped, the
 * account's secrets and long digit runs (phone numbers an answer may echo) masked.
 */
export function answerExcerpt(text: string, secrets: string[] = []): string {
  let s = text.slice(0, 4_000);
  // As sent (a query string or form body) and as an answer may echo it: raw, URI-encoded, form-encoded.
  const spellings = secrets.filter(Boolean).flatMap((x) => [x, encodeURIComponent(x), new URLSearchParams({ x }).toString().slice(2)]);
  for (const secret of new Set(spellings)) s = s.split(secret).join('[redacted]');
  s = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ').replace(/\s+/g, ' ').trim();
  s = s.replace(/\d{7,}/g, (d) => `${'*'.repeat(d.length - 4)}${d.slice(-4)}`);
  return s.slice(0, 200);
}

/** A gateway's own status text (SMS.ru's status_text) as one short line before it is stored or shown. */
export const plainText = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
