import type { GatewayStatus } from './gateway.js';

/** SMS.ru request / per-number result codes (gateways.md §1) → what the send worker does. */
export const SMSRU_SEND_CODES: Record<number, 'accepted' | 'retryable' | 'permanent'> = {
  100: 'accepted',
  200: 'permanent', 201: 'permanent', 202: 'permanent', 203: 'permanent', 204: 'permanent', 205: 'permanent',
  206: 'permanent', 207: 'permanent', 208: 'permanent', 209: 'permanent', 210: 'permanent', 211: 'permanent',
  212: 'permanent', 213: 'permanent', 214: 'permanent', 215: 'permanent', 216: 'permanent', 217: 'permanent',
  220: 'retryable', 221: 'permanent',
  230: 'permanent', 231: 'permanent', 232: 'permanent', 233: 'permanent',
  300: 'permanent', 301: 'permanent', 302: 'permanent',
  500: 'retryable',
  501: 'permanent', 502: 'permanent', 503: 'permanent', 504: 'permanent', 505: 'permanent', 506: 'permanent',
  507: 'permanent', 508: 'permanent', 550: 'permanent',
};

/** Unlisted codes are treated as permanent: a human should look rather than the worker loop. */
export const smsruSendKind = (code: number) => SMSRU_SEND_CODES[code] ?? 'permanent';

/** SMS.ru message statuses (sms/status and sms_status callbacks) → our states. */
export const SMSRU_STATUS: Record<number, GatewayStatus['state']> = {
  [-1]: 'failed', // not found at SMS.ru
  100: 'sent', 101: 'sent', 102: 'sent',
  103: 'delivered', 110: 'delivered',
  104: 'undelivered', 105: 'undelivered', 106: 'undelivered', 107: 'undelivered', 108: 'undelivered',
  150: 'failed',
};

export function smsruStatus(code: number, text?: string): GatewayStatus | undefined {
  const state = SMSRU_STATUS[code];
  return state ? { state, code: String(code), text: text ?? '' } : undefined;
}
