import type { GatewayStatus } from '../gateway.js';

/**
 * What the send worker does with a submit_sm_resp's command_status (SMPP 3.4 §5.1.3, gateways.md §6):
 * `accepted` → sent; `retryable` → queued again with backoff (nothing was accepted); `slowDown` → the same, and the
 * account's pace is halved for a while (ESME_RTHROTTLED, ESME_RMSGQFUL); `permanent` → failed with the words.
 * A refusal is an answer: the centre did not take the message, so retrying it can never send it twice.
 */
export type SubmitKind = 'accepted' | 'retryable' | 'slowDown' | 'permanent';

export const SMPP_COMMAND_STATUS: Record<number, { name: string; kind: SubmitKind; text: string }> = {
  0x00: { name: 'ESME_ROK', kind: 'accepted', text: 'accepted by the SMS centre' },
  0x01: { name: 'ESME_RINVMSGLEN', kind: 'permanent', text: 'the SMS centre refused the message length' },
  0x02: { name: 'ESME_RINVCMDLEN', kind: 'permanent', text: 'the SMS centre could not read the request (command length)' },
  0x03: { name: 'ESME_RINVCMDID', kind: 'permanent', text: 'the SMS centre does not take this request (command id)' },
  0x04: { name: 'ESME_RINVBNDSTS', kind: 'retryable', text: 'the connection to the SMS centre was not bound' },
  0x05: { name: 'ESME_RALYBND', kind: 'retryable', text: 'the SMS centre says the connection is already bound' },
  0x06: { name: 'ESME_RINVPRTFLG', kind: 'permanent', text: 'the SMS centre refused the priority flag' },
  0x07: { name: 'ESME_RINVREGDLVFLG', kind: 'permanent', text: 'the SMS centre refused the delivery receipt request' },
  0x08: { name: 'ESME_RSYSERR', kind: 'retryable', text: 'system error at the SMS centre' },
  0x0a: { name: 'ESME_RINVSRCADR', kind: 'permanent', text: 'the SMS centre refused the sender name or number' },
  0x0b: { name: 'ESME_RINVDSTADR', kind: 'permanent', text: 'the SMS centre refused the recipient number' },
  0x0c: { name: 'ESME_RINVMSGID', kind: 'permanent', text: 'the SMS centre refused the message id' },
  0x0d: { name: 'ESME_RBINDFAIL', kind: 'retryable', text: 'the SMS centre refused the connection (bind failed)' },
  0x0e: { name: 'ESME_RINVPASWD', kind: 'permanent', text: 'the SMS centre refused the password' },
  0x0f: { name: 'ESME_RINVSYSID', kind: 'permanent', text: 'the SMS centre does not know this system id' },
  0x14: { name: 'ESME_RMSGQFUL', kind: 'slowDown', text: 'the SMS centre\'s queue is full' },
  0x15: { name: 'ESME_RINVSERTYP', kind: 'permanent', text: 'the SMS centre refused the service type' },
  0x33: { name: 'ESME_RINVNUMDESTS', kind: 'permanent', text: 'the SMS centre refused the number of recipients' },
  0x34: { name: 'ESME_RINVDLNAME', kind: 'permanent', text: 'the SMS centre refused the distribution list' },
  0x40: { name: 'ESME_RINVDESTFLAG', kind: 'permanent', text: 'the SMS centre refused the destination flag' },
  0x42: { name: 'ESME_RINVSUBREP', kind: 'permanent', text: 'the SMS centre refused the submit-with-replace flag' },
  0x43: { name: 'ESME_RINVESMCLASS', kind: 'permanent', text: 'the SMS centre refused the message class (esm_class)' },
  0x44: { name: 'ESME_RCNTSUBDL', kind: 'permanent', text: 'the SMS centre cannot submit to a distribution list' },
  0x45: { name: 'ESME_RSUBMITFAIL', kind: 'permanent', text: 'the SMS centre refused the message (submit failed)' },
  0x48: { name: 'ESME_RINVSRCTON', kind: 'permanent', text: 'the SMS centre refused the sender type of number (TON)' },
  0x49: { name: 'ESME_RINVSRCNPI', kind: 'permanent', text: 'the SMS centre refused the sender numbering plan (NPI)' },
  0x50: { name: 'ESME_RINVDSTTON', kind: 'permanent', text: 'the SMS centre refused the recipient type of number (TON)' },
  0x51: { name: 'ESME_RINVDSTNPI', kind: 'permanent', text: 'the SMS centre refused the recipient numbering plan (NPI)' },
  0x53: { name: 'ESME_RINVSYSTYP', kind: 'permanent', text: 'the SMS centre refused the system type' },
  0x54: { name: 'ESME_RINVREPFLAG', kind: 'permanent', text: 'the SMS centre refused the replace-if-present flag' },
  0x55: { name: 'ESME_RINVNUMMSGS', kind: 'permanent', text: 'the SMS centre refused the number of messages' },
  0x58: { name: 'ESME_RTHROTTLED', kind: 'slowDown', text: 'the SMS centre asks to send more slowly (throttled)' },
  0x61: { name: 'ESME_RINVSCHED', kind: 'permanent', text: 'the SMS centre refused the scheduled delivery time' },
  0x62: { name: 'ESME_RINVEXPIRY', kind: 'permanent', text: 'the SMS centre refused the validity period' },
  0x63: { name: 'ESME_RINVDFTMSGID', kind: 'permanent', text: 'the SMS centre refused the predefined message id' },
  0x64: { name: 'ESME_RX_T_APPN', kind: 'retryable', text: 'temporary error at the SMS centre' },
  0x65: { name: 'ESME_RX_P_APPN', kind: 'permanent', text: 'the SMS centre refused the message (permanent error)' },
  0x66: { name: 'ESME_RX_R_APPN', kind: 'permanent', text: 'the SMS centre rejected the message' },
  0xc0: { name: 'ESME_RINVTLVSTREAM', kind: 'permanent', text: 'the SMS centre could not read the optional parameters' },
  0xc1: { name: 'ESME_RTLVNOTALLWD', kind: 'permanent', text: 'the SMS centre does not allow an optional parameter' },
  0xc2: { name: 'ESME_RINVTLVLEN', kind: 'permanent', text: 'the SMS centre refused an optional parameter\'s length' },
  0xc3: { name: 'ESME_RMISSINGTLV', kind: 'permanent', text: 'the SMS centre misses an optional parameter' },
  0xc4: { name: 'ESME_RINVTLVVAL', kind: 'permanent', text: 'the SMS centre refused an optional parameter\'s value' },
  0xfe: { name: 'ESME_RDELIVERYFAILURE', kind: 'permanent', text: 'the SMS centre could not deliver the message' },
  0xff: { name: 'ESME_RUNKNOWNERR', kind: 'permanent', text: 'unknown error at the SMS centre' },
};

/** The status's name (ESME_…) or its number in hex for codes outside the specification (vendor codes 0x400–0x4FF). */
export const statusName = (status: number) => SMPP_COMMAND_STATUS[status]?.name ?? `0x${status.toString(16).padStart(8, '0')}`;

/**
 * Unlisted statuses (vendor-specific ones among them) are permanent: a human should look rather than the worker
 * loop for a day. The words name the code, so the operator can look it up in the centre's documentation.
 */
export function submitStatus(status: number): { name: string; kind: SubmitKind; text: string } {
  const known = SMPP_COMMAND_STATUS[status];
  if (known) return known;
  return { name: statusName(status), kind: 'permanent', text: `the SMS centre refused the message (status ${statusName(status)})` };
}

/** Bind refusals that are about the credentials: messages fail at once, and the form shows the field. */
export const BIND_REFUSED_CREDENTIALS = new Set([0x0e, 0x0f]);

/**
 * Delivery receipt states (gateways.md §6): the `stat:` word of the receipt text and the message_state TLV (0x0427).
 * ACCEPTD, ENROUTE and UNKNOWN are not final: the message stays `sent`; an UNKNOWN one becomes undelivered
 * ("expired") when STATUS_MAX_AGE passes without a better receipt, as every message without a final status does.
 */
export const RECEIPT_STAT: Record<string, { state: GatewayStatus['state']; text: string }> = {
  DELIVRD: { state: 'delivered', text: 'delivered' },
  UNDELIV: { state: 'undelivered', text: 'not delivered: undeliverable' },
  EXPIRED: { state: 'undelivered', text: 'not delivered: expired at the SMS centre' },
  REJECTD: { state: 'undelivered', text: 'not delivered: rejected' },
  DELETED: { state: 'undelivered', text: 'not delivered: deleted at the SMS centre' },
  ACCEPTD: { state: 'sent', text: 'accepted by the SMS centre' },
  ENROUTE: { state: 'sent', text: 'on its way' },
  UNKNOWN: { state: 'sent', text: 'the SMS centre does not know the outcome yet' },
};

/** message_state TLV values (SMPP 3.4 §5.2.28) by the receipt word they stand for. */
export const MESSAGE_STATE: Record<number, keyof typeof RECEIPT_STAT> = {
  1: 'ENROUTE',
  2: 'DELIVRD',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIV',
  6: 'ACCEPTD',
  7: 'UNKNOWN',
  8: 'REJECTD',
};

/**
 * A receipt's state: the TLV when present (it is typed), else the text's `stat:` word; undefined when neither is
 * known (ignored, as an unknown SMS.ru status is). `err` is the centre's network error code, kept in the words.
 */
export function receiptStatus(r: { messageState?: number; stat?: string; err?: string }): GatewayStatus | undefined {
  const word = r.messageState !== undefined ? MESSAGE_STATE[r.messageState] : r.stat ? (r.stat.toUpperCase() as keyof typeof RECEIPT_STAT) : undefined;
  const m = word ? RECEIPT_STAT[word] : undefined;
  if (!word || !m) return undefined;
  const err = r.err && !/^0+$/.test(r.err) && m.state !== 'delivered' ? ` (error ${r.err})` : '';
  return { state: m.state, code: word, text: `${m.text}${err}` };
}
