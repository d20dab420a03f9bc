import type { GatewayStatus } from './gateway.js';

/** Kannel DLR types (dlr-mask bits, gateways.md §2) → our states. */
export const KANNEL_DLR: Record<number, { state: GatewayStatus['state']; text: string }> = {
  1: { state: 'delivered', text: 'delivered to phone' },
  2: { state: 'undelivered', text: 'not delivered to phone' },
  4: { state: 'sent', text: 'queued on SMSC' },
  8: { state: 'sent', text: 'delivered to SMSC' },
  16: { state: 'failed', text: 'rejected by SMSC' },
};

export function kannelDlr(type: number, reply?: string): GatewayStatus | undefined {
  const m = KANNEL_DLR[type];
  return m ? { state: m.state, code: String(type), text: reply ? `${m.text}: ${reply}`.slice(0, 500) : m.text } : undefined;
}

/** cgi-bin/sendsms replies: 202 "0: Accepted…" / "3: Queued for later delivery" are accepted. */
export function kannelSendKind(status: number): 'accepted' | 'retryable' | 'permanent' {
  if (status === 202 || status === 200) return 'accepted';
  if (status === 503 || status >= 500 || status === 429) return 'retryable';
  return 'permanent'; // 400 bad request, 403 bad login
}
