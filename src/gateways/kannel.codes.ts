import { plainText, type GatewayStatus } from './gateway.js';

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
  // The SMSC's receipt text (%A) is kept as one short line: it is shown in the portal's log, to every user.
  const receipt = reply ? plainText(withoutQuote(reply)) : '';
  return m ? { state: m.state, code: String(type), text: receipt ? `${m.text}: ${receipt}` : m.text } : undefined;
}

/**
 * A receipt without the message it quotes: an SMPP receipt's text ends with `text:` and the message's first
 * characters (gateways.md §6), a one-time code as often as not, and no user sees a message's text in the log.
 */
export const withoutQuote = (receipt: string) => receipt.replace(/(^|[\s,;])text:[\s\S]*$/i, '$1').trim();

/**
 * cgi-bin/sendsms replies: 202 "0: Accepted…" / "3: Queued for later delivery" are accepted. A 502 or 504 comes
 * from a proxy in front of Kannel that sent our request on and lost the answer: Kannel may have taken the
 * message, so it is an unknown outcome (a DLR settles it), never a resend.
 */
export function kannelSendKind(status: number): 'accepted' | 'retryable' | 'permanent' | 'unknown' {
  if (status === 202 || status === 200) return 'accepted';
  if (status === 502 || status === 504) return 'unknown';
  if (status === 503 || status >= 500 || status === 429) return 'retryable';
  return 'permanent'; // 400 bad request, 403 bad login
}

/**
 * Words for a sendsms reply; Kannel's own body is never shown (it may be anything the address answers). For an
 * unknown outcome they say why; the adapter opens them with "outcome unknown".
 */
export function kannelSendText(status: number, body: string): string {
  if (status === 202 || status === 200) return /^\s*3:/.test(body) ? 'queued for later delivery (no SMS centre connected)' : 'accepted for delivery';
  if (status === 502 || status === 504) return `no answer through the proxy in front of Kannel (HTTP ${status})`;
  if (status === 400) return 'Kannel refused the message as invalid (HTTP 400)';
  // smsbox answers 403 for a wrong login and, "Not routable. Do not try again.", for a number no SMS centre takes.
  if (status === 403) return /not routable/i.test(body) ? 'Kannel has no route for this number (HTTP 403, "not routable")' : 'Kannel refused the username or password';
  if (status === 404) return 'no Kannel sendsms service at this address (HTTP 404)';
  if (status === 429) return 'Kannel is overloaded (HTTP 429)';
  if (status >= 500) return `Kannel is temporarily unavailable (HTTP ${status})`;
  return `unexpected answer from Kannel (HTTP ${status})`;
}
