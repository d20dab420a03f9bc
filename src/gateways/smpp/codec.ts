import { segmentsOf } from '../segments.js';

/**
 * What goes into submit_sm and what comes out of deliver_sm, as pure functions (gateways.md §3, §6).
 *
 * Text is encoded here, never by the smpp package: its own choice of alphabet may pick a national shift table or
 * Latin-1, and the parts must be exactly the ones segments.ts counted (the message log shows that count).
 */

export const DATA_CODING = { gsm7: 0x00, ucs2: 0x08 } as const;
export const ESM_CLASS_UDHI = 0x40;
export const ESM_CLASS_RECEIPT = 0x04;

// GSM 03.38 default alphabet in table order (0x1B is the escape to the extension table).
const GSM_TABLE =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION: Record<string, number> = { '\f': 0x0a, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2f, '[': 0x3c, '~': 0x3d, ']': 0x3e, '|': 0x40, '€': 0x65 };
const GSM_CODE = new Map<string, number>([...GSM_TABLE].map((c, i) => [c, i]));
GSM_CODE.delete('\x1b');

// One SMS: 160 septets or 140 octets; a concatenated part gives 6 octets to its header (05 00 03 ref total seq).
const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

/** A character's septets (one, or ESC + one from the extension table); undefined when GSM-7 cannot carry it. */
function gsmSeptets(c: string): number[] | undefined {
  const basic = GSM_CODE.get(c);
  if (basic !== undefined) return [basic];
  const ext = GSM_EXTENSION[c];
  return ext === undefined ? undefined : [0x1b, ext];
}

export interface EncodedText {
  dataCoding: number;
  encoding: 'GSM-7' | 'UCS-2';
  /** Each part's short_message, header included when there is more than one. */
  parts: Buffer[];
  esmClass: number;
}

/**
 * GSM-7 text as data_coding 0, one septet per octet (unpacked, as SMPP carries the SMSC default alphabet);
 * anything else as UCS-2 big-endian (data_coding 8). Long texts become parts with an 8-bit-reference UDH, each
 * filled greedily without splitting an extension character or a surrogate pair: the same parts segments.ts counts.
 */
export function encodeText(text: string, reference: number): EncodedText {
  const { encoding } = segmentsOf(text);
  const units: number[][] = []; // one entry per character: its octets
  let size = 0;
  if (encoding === 'GSM-7') {
    for (const c of text) {
      const septets = gsmSeptets(c)!;
      units.push(septets);
      size += septets.length;
    }
  } else {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      const chunk = pair ? text.slice(i, i + 2) : text[i]!;
      if (pair) i++;
      units.push([...Buffer.from(chunk, 'utf16le').swap16()]);
      size += chunk.length;
    }
  }
  const gsm = encoding === 'GSM-7';
  const single = gsm ? GSM_SINGLE : UCS2_SINGLE;
  const perPart = gsm ? GSM_PART : UCS2_PART;
  const width = (u: number[]) => (gsm ? u.length : u.length / 2);
  const dataCoding = gsm ? DATA_CODING.gsm7 : DATA_CODING.ucs2;
  if (size <= single) return { dataCoding, encoding, parts: [Buffer.from(units.flat())], esmClass: 0 };

  const chunks: number[][] = [];
  let current: number[] = [];
  let filled = 0;
  for (const u of units) {
    if (filled + width(u) > perPart) {
      chunks.push(current);
      current = [];
      filled = 0;
    }
    current.push(...u);
    filled += width(u);
  }
  chunks.push(current);
  const ref = reference & 0xff;
  const parts = chunks.map((c, i) => Buffer.from([0x05, 0x00, 0x03, ref, chunks.length, i + 1, ...c]));
  return { dataCoding, encoding, parts, esmClass: ESM_CLASS_UDHI };
}

/**
 * The sender as source address (gateways.md §6): letters → alphanumeric (TON 5, NPI 0); digits (an optional +) →
 * international (TON 1, NPI 1); none → empty, the account's default at the centre (TON 0, NPI 0). The account's
 * TON/NPI, when set on the form, win.
 */
export function sourceAddress(sender: string, account: { ton?: number; npi?: number }): { ton: number; npi: number; addr: string } {
  const s = sender.trim();
  const numeric = /^\+?\d+$/.test(s);
  const addr = numeric ? s.replace(/^\+/, '') : s;
  const ton = account.ton ?? (!s ? 0 : numeric ? 1 : 5);
  const npi = account.npi ?? (!s ? 0 : numeric ? 1 : 0);
  return { ton, npi, addr };
}

/** An E.164 number as destination address: international digits, TON 1, NPI 1. */
export const destinationAddress = (e164: string) => ({ ton: 1, npi: 1, addr: e164.replace(/\D/g, '') });

/** What a deliver_sm carries, read: a delivery receipt, or an incoming SMS (from a handset to the account). */
export type DeliverSm =
  | { kind: 'receipt'; id?: string; messageState?: number; stat?: string; err?: string; handset: string; excerpt?: string }
  | { kind: 'incoming'; from: string; to: string; length: number };

/** The text of a short_message (or message_payload) as the smpp package decoded it: a string, or bytes. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value && typeof value === 'object' && 'message' in value) return textOf((value as { message: unknown }).message);
  return '';
}

const field = (text: string, name: string) => new RegExp(`(?:^|\\s)${name}:\\s*(\\S+)`, 'i').exec(text)?.[1];

/**
 * A deliver_sm, read. With esm_class bit 0x04 it is a receipt: the receipted_message_id and message_state TLVs
 * when present, else (and for what they lack) the text `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:…
 * text:…` (SMPP 3.4 appendix B). Only the part before `text:` is searched: it quotes the message, which could say
 * anything. The handset is the receipt's source address (the number the message went to).
 */
export function readDeliverSm(pdu: Record<string, unknown>): DeliverSm {
  const esmClass = Number(pdu.esm_class ?? 0);
  const source = typeof pdu.source_addr === 'string' ? pdu.source_addr : '';
  const body = textOf(pdu.short_message) || textOf(pdu.message_payload);
  if (!(esmClass & ESM_CLASS_RECEIPT)) return { kind: 'incoming', from: source, to: typeof pdu.destination_addr === 'string' ? pdu.destination_addr : '', length: body.length };
  const cut = body.search(/(?:^|\s)text:/i);
  const head = cut >= 0 ? body.slice(0, cut) : body;
  const tlvId = typeof pdu.receipted_message_id === 'string' ? pdu.receipted_message_id.trim() : '';
  const state = typeof pdu.message_state === 'number' ? pdu.message_state : undefined;
  const excerpt = cut >= 0 ? body.slice(cut).replace(/^\s*text:/i, '').trim().slice(0, 40) : undefined;
  const err = field(head, 'err');
  return {
    kind: 'receipt', id: messageId(tlvId || field(head, 'id') || ''), messageState: state, stat: field(head, 'stat')?.slice(0, 16),
    err: err && /^[0-9A-Za-z]{1,8}$/.test(err) ? err : undefined, handset: source, excerpt,
  };
}

/**
 * A centre's message id as kept: printable ASCII, at most 64 characters (SMPP 3.4's message_id is a C-octet string
 * of at most 65 octets); the same cut is made on submit_sm_resp and receipt ids, so they still meet.
 */
export function messageId(raw: string): string | undefined {
  const id = raw.trim().replace(/[^\x21-\x7e]/g, '').slice(0, 64);
  return id || undefined;
}

/**
 * The keys a centre's message id is found by. Centres differ: the id may be hex in submit_sm_resp and decimal in
 * the receipt, or the reverse (gateways.md §6), with or without leading zeros, in either case. So an id made of
 * digits is also read as hex, one of hex digits also as a number, and each reading is kept as its value: two ids
 * match when they share a key. An id that is no number is its own key (lower case).
 */
export function idKeys(id: string): string[] {
  const s = id.trim().toLowerCase();
  const keys = new Set<string>();
  if (s.length <= 64 && /^[0-9]+$/.test(s)) keys.add(`n${BigInt(s)}`);
  if (s.length <= 64 && /^[0-9a-f]+$/.test(s)) keys.add(`n${BigInt(`0x${s}`)}`);
  if (!keys.size) keys.add(`s${s.slice(0, 98)}`);
  return [...keys];
}

/** The same id written the same way (case and leading zeros aside): preferred over a match by another reading. */
export const sameId = (a: string, b: string) => a.trim().toLowerCase().replace(/^0+(?=.)/, '') === b.trim().toLowerCase().replace(/^0+(?=.)/, '');
