import type { GatewayStatus } from './gateway.js';

/**
 * SMSC.ru's answers (gateways.md §5, SMSC's API pages) read as what we do next. Pure tables: one test per row in
 * test/smscru-codes.test.ts.
 */

/**
 * send.php `error_code` → what the send worker does. `slowDown`: SMSC asks for fewer or later requests (9: the same
 * send twice within a minute, or too many concurrent requests under one login), so the account's requests shrink
 * to one at a time and the message waits at least `retryAfterMs`. `blocked`: SMSC refuses this server's address for a
 * while after too many bad requests (4); nothing of any account on it goes through until then.
 */
export const SMSCRU_SEND_ERRORS: Record<number, { kind: 'retryable' | 'permanent'; text: string; throttle?: 'slowDown' | 'blocked' }> = {
  1: { kind: 'permanent', text: 'SMSC.ru refused the request as malformed (error 1)' },
  2: { kind: 'permanent', text: 'SMSC.ru: wrong login or password (or this server\'s address is not on the account\'s allowed list)' },
  3: { kind: 'permanent', text: 'SMSC.ru: not enough money on the account' },
  4: { kind: 'retryable', text: 'SMSC.ru has blocked requests from this server for a while (too many bad requests)', throttle: 'blocked' },
  5: { kind: 'permanent', text: 'SMSC.ru refused the date format (error 5)' },
  6: { kind: 'permanent', text: 'SMSC.ru: message forbidden (by its text or sender name)' },
  7: { kind: 'permanent', text: 'SMSC.ru: wrong phone number format' },
  8: { kind: 'permanent', text: 'SMSC.ru: the message cannot be delivered to this number' },
  9: { kind: 'retryable', text: 'SMSC.ru asks to slow down (the same send within a minute, or too many requests at once)', throttle: 'slowDown' },
};

/** How long a throttled send waits at least: SMSC counts duplicates per minute; its block after error 4 is undocumented. */
export const SMSCRU_RETRY_AFTER_MS = { slowDown: 60_000, blocked: 5 * 60_000 } as const;

/** An undocumented error code: permanent, so that a human looks rather than the worker loop. */
export function smscruSendError(code: number) {
  return SMSCRU_SEND_ERRORS[code] ?? { kind: 'permanent' as const, text: `SMSC.ru error ${code}` };
}

/**
 * status.php message statuses → our states. -3 "not found" (the multi form's; the single form a lookup uses answers
 * error 3) is no state: after an unknown outcome it means the send never arrived (a lookup settles it); for a message
 * SMSC accepted it changes nothing (STATUS_MAX_AGE ends it).
 */
export const SMSCRU_STATUS: Record<number, { state: GatewayStatus['state'] | 'notFound'; text: string }> = {
  [-3]: { state: 'notFound', text: 'not found at SMSC.ru' },
  [-2]: { state: 'failed', text: 'stopped at SMSC.ru' },
  [-1]: { state: 'sent', text: 'waiting to be sent' },
  0: { state: 'sent', text: 'handed to the operator' },
  1: { state: 'delivered', text: 'delivered' },
  2: { state: 'delivered', text: 'read' },
  3: { state: 'undelivered', text: 'not delivered: lifetime expired' },
  4: { state: 'delivered', text: 'delivered, link clicked' },
  20: { state: 'undelivered', text: 'not delivered' },
  22: { state: 'failed', text: 'wrong number' },
  23: { state: 'failed', text: 'forbidden' },
  24: { state: 'failed', text: 'not enough money on the SMSC.ru account' },
  25: { state: 'failed', text: 'number unavailable (no route)' },
};

/** `err` inside a status: why, in words. Codes not listed are shown by number. */
export const SMSCRU_STATUS_ERR: Record<number, string> = {
  1: 'the subscriber does not exist',
  6: 'the subscriber is offline',
  200: 'virtual send (SMSC.ru test mode)',
  248: 'no route',
  249: 'wrong number format',
  253: 'rejected by the spam filter',
  254: 'unregistered sender name',
  255: 'rejected by the operator',
};

export const isSmscruNotFound = (status: number) => SMSCRU_STATUS[status]?.state === 'notFound';

/** Our reading of a status and its `err`; undefined for "not found" and undocumented statuses (no change). */
export function smscruStatus(status: number, err?: number): GatewayStatus | undefined {
  const s = SMSCRU_STATUS[status];
  if (!s || s.state === 'notFound') return undefined;
  const why = err ? (SMSCRU_STATUS_ERR[err] ?? `error ${err}`) : '';
  return { state: s.state, code: String(status), text: why ? `${s.text}: ${why}` : s.text };
}
