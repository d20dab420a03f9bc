import { describe, expect, it } from 'vitest';
import { MESSAGE_STATE, RECEIPT_STAT, SMPP_COMMAND_STATUS, receiptStatus, submitStatus } from '../src/gateways/smpp/codes.js';
import { destinationAddress, encodeText, idKeys, readDeliverSm, sameId, sourceAddress } from '../src/gateways/smpp/codec.js';
import { segmentsOf } from '../src/gateways/segments.js';
import { parseSmppUrl } from '../src/gateways/smpp/connect.js';

// What a submit_sm_resp's command_status makes of the message (SMPP 3.4 §5.1.3, gateways.md §6), written out by hand:
// accepted → sent; retryable and "slow down" → queued again later (slow down also halves the account's pace);
// permanent → failed, with the words.
const STATE = { accepted: 'sent', retryable: 'queued', slowDown: 'queued', permanent: 'failed' } as const;
const commandStatuses: Array<[number, string, keyof typeof STATE]> = [
  [0x00, 'ESME_ROK', 'accepted'],
  [0x01, 'ESME_RINVMSGLEN', 'permanent'],
  [0x02, 'ESME_RINVCMDLEN', 'permanent'],
  [0x03, 'ESME_RINVCMDID', 'permanent'],
  [0x04, 'ESME_RINVBNDSTS', 'retryable'],
  [0x05, 'ESME_RALYBND', 'retryable'],
  [0x06, 'ESME_RINVPRTFLG', 'permanent'],
  [0x07, 'ESME_RINVREGDLVFLG', 'permanent'],
  [0x08, 'ESME_RSYSERR', 'retryable'],
  [0x0a, 'ESME_RINVSRCADR', 'permanent'],
  [0x0b, 'ESME_RINVDSTADR', 'permanent'],
  [0x0c, 'ESME_RINVMSGID', 'permanent'],
  [0x0d, 'ESME_RBINDFAIL', 'retryable'],
  [0x0e, 'ESME_RINVPASWD', 'permanent'],
  [0x0f, 'ESME_RINVSYSID', 'permanent'],
  [0x14, 'ESME_RMSGQFUL', 'slowDown'],
  [0x15, 'ESME_RINVSERTYP', 'permanent'],
  [0x33, 'ESME_RINVNUMDESTS', 'permanent'],
  [0x34, 'ESME_RINVDLNAME', 'permanent'],
  [0x40, 'ESME_RINVDESTFLAG', 'permanent'],
  [0x42, 'ESME_RINVSUBREP', 'permanent'],
  [0x43, 'ESME_RINVESMCLASS', 'permanent'],
  [0x44, 'ESME_RCNTSUBDL', 'permanent'],
  [0x45, 'ESME_RSUBMITFAIL', 'permanent'],
  [0x48, 'ESME_RINVSRCTON', 'permanent'],
  [0x49, 'ESME_RINVSRCNPI', 'permanent'],
  [0x50, 'ESME_RINVDSTTON', 'permanent'],
  [0x51, 'ESME_RINVDSTNPI', 'permanent'],
  [0x53, 'ESME_RINVSYSTYP', 'permanent'],
  [0x54, 'ESME_RINVREPFLAG', 'permanent'],
  [0x55, 'ESME_RINVNUMMSGS', 'permanent'],
  [0x58, 'ESME_RTHROTTLED', 'slowDown'],
  [0x61, 'ESME_RINVSCHED', 'permanent'],
  [0x62, 'ESME_RINVEXPIRY', 'permanent'],
  [0x63, 'ESME_RINVDFTMSGID', 'permanent'],
  [0x64, 'ESME_RX_T_APPN', 'retryable'],
  [0x65, 'ESME_RX_P_APPN', 'permanent'],
  [0x66, 'ESME_RX_R_APPN', 'permanent'],
  [0xc0, 'ESME_RINVTLVSTREAM', 'permanent'],
  [0xc1, 'ESME_RTLVNOTALLWD', 'permanent'],
  [0xc2, 'ESME_RINVTLVLEN', 'permanent'],
  [0xc3, 'ESME_RMISSINGTLV', 'permanent'],
  [0xc4, 'ESME_RINVTLVVAL', 'permanent'],
  [0xfe, 'ESME_RDELIVERYFAILURE', 'permanent'],
  [0xff, 'ESME_RUNKNOWNERR', 'permanent'],
];

// Receipts (gateways.md §6): the text's stat word, and the message_state TLV's number for the same state.
const receiptStates: Array<[string, number, 'delivered' | 'undelivered' | 'sent']> = [
  ['ENROUTE', 1, 'sent'],
  ['DELIVRD', 2, 'delivered'],
  ['EXPIRED', 3, 'undelivered'],
  ['DELETED', 4, 'undelivered'],
  ['UNDELIV', 5, 'undelivered'],
  ['ACCEPTD', 6, 'sent'],
  ['UNKNOWN', 7, 'sent'], // undelivered ("expired") only when STATUS_MAX_AGE passes without another receipt
  ['REJECTD', 8, 'undelivered'],
];

describe('SMPP command statuses → our states', () => {
  it('the table has exactly the rows written out here', () => {
    expect(Object.keys(SMPP_COMMAND_STATUS).map(Number).sort((a, b) => a - b)).toEqual(commandStatuses.map(([c]) => c));
  });
  it.each(commandStatuses)('0x%s %s → %s', (code, name, kind) => {
    expect(submitStatus(code)).toMatchObject({ name, kind });
    expect(STATE[submitStatus(code).kind]).toBe(STATE[kind]);
  });
  it('an unlisted (vendor) status is permanent and named by its number', () => {
    expect(submitStatus(0x400)).toEqual({ name: '0x00000400', kind: 'permanent', text: 'the SMS centre refused the message (status 0x00000400)' });
  });
});

describe('receipt states → our states', () => {
  it('the tables have exactly the rows written out here', () => {
    expect(Object.keys(RECEIPT_STAT).sort()).toEqual(receiptStates.map(([w]) => w).sort());
    expect(Object.keys(MESSAGE_STATE).map(Number)).toEqual(receiptStates.map(([, n]) => n));
  });
  it.each(receiptStates)('stat:%s (message_state %i) → %s', (word, n, state) => {
    expect(receiptStatus({ stat: word })).toMatchObject({ state, code: word });
    expect(receiptStatus({ messageState: n })).toMatchObject({ state, code: word });
  });
  it('the TLV wins over the text, the error code is kept for failures, and an unknown word is no status', () => {
    expect(receiptStatus({ messageState: 5, stat: 'DELIVRD', err: '001' })).toEqual({ state: 'undelivered', code: 'UNDELIV', text: 'not delivered: undeliverable (error 001)' });
    expect(receiptStatus({ stat: 'delivrd', err: '000' })).toEqual({ state: 'delivered', code: 'DELIVRD', text: 'delivered' });
    expect(receiptStatus({ stat: 'LOST' })).toBeUndefined();
    expect(receiptStatus({ messageState: 0 })).toBeUndefined();
  });
});

describe('text as submit_sm parts', () => {
  // gateways.md §3's checked values: the same parts segments.ts counts for every gateway.
  it.each([
    ['a'.repeat(160), 1], ['a'.repeat(161), 2], ['a'.repeat(306), 2], ['a'.repeat(307), 3],
    ['я'.repeat(70), 1], ['я'.repeat(71), 2], ['я'.repeat(134), 2], ['я'.repeat(135), 3],
    ['€'.repeat(80), 1], ['€'.repeat(81), 2], ['😀'.repeat(35), 1], ['😀'.repeat(36), 2], ['a'.repeat(152) + '€' + 'b'.repeat(10), 2], ['a'.repeat(152) + '€' + 'b', 1],
  ])('%#: as many parts as segments.ts counts (%s…)', (text, parts) => {
    const e = encodeText(text, 7);
    expect(e.parts).toHaveLength(parts);
    expect(segmentsOf(text).segments).toBe(parts);
  });

  it('GSM-7 goes as data_coding 0, one septet per octet, the extension table behind ESC', () => {
    const e = encodeText('@a€{', 0);
    expect(e).toMatchObject({ dataCoding: 0, encoding: 'GSM-7', esmClass: 0 });
    expect([...e.parts[0]!]).toEqual([0x00, 0x61, 0x1b, 0x65, 0x1b, 0x28]);
  });

  it('anything else goes as UCS-2 big-endian (data_coding 8)', () => {
    const e = encodeText('Привет', 0);
    expect(e).toMatchObject({ dataCoding: 8, encoding: 'UCS-2' });
    expect(e.parts[0]!.subarray(0, 2)).toEqual(Buffer.from([0x04, 0x1f]));
  });

  it('long texts carry the 8-bit-reference UDH, the same reference on every part, parts numbered in order', () => {
    const e = encodeText('x'.repeat(400), 0x1a3);
    expect(e.esmClass).toBe(0x40);
    expect(e.parts.map((p) => [...p.subarray(0, 6)])).toEqual([1, 2, 3].map((seq) => [0x05, 0x00, 0x03, 0xa3, 3, seq]));
    expect(e.parts.map((p) => p.length - 6)).toEqual([153, 153, 94]);
  });

  it('never splits an extension character or a surrogate pair between parts', () => {
    const gsm = encodeText('a'.repeat(152) + '€' + 'b'.repeat(10), 1);
    expect(gsm.parts[0]!.length - 6).toBe(152);
    expect([...gsm.parts[1]!.subarray(6, 8)]).toEqual([0x1b, 0x65]);
    const ucs = encodeText('я'.repeat(66) + '😀' + 'я'.repeat(5), 1);
    expect(ucs.parts[0]!.length - 6).toBe(132);
    expect(ucs.parts[1]!.subarray(6, 10)).toEqual(Buffer.from('😀', 'utf16le').swap16());
  });
});

describe('addresses', () => {
  it.each([
    ['MyShop', {}, { ton: 5, npi: 0, addr: 'MyShop' }],
    ['+79001234567', {}, { ton: 1, npi: 1, addr: '79001234567' }],
    ['', {}, { ton: 0, npi: 0, addr: '' }],
    ['MyShop', { ton: 0, npi: 1 }, { ton: 0, npi: 1, addr: 'MyShop' }],
  ] as const)('sender %j with the account\'s %j → %j', (sender, account, expected) => expect(sourceAddress(sender, account)).toEqual(expected));

  it('the recipient goes as international digits, TON 1, NPI 1', () => {
    expect(destinationAddress('+79991234567')).toEqual({ ton: 1, npi: 1, addr: '79991234567' });
  });

  it.each([
    ['smpp://smsc.example.com:2775', { host: 'smsc.example.com', port: 2775, tls: false }],
    ['ssmpp://smsc.example.com', { host: 'smsc.example.com', port: 3550, tls: true }],
    ['smpp://[2001:db8::1]:2776', { host: '2001:db8::1', port: 2776, tls: false }],
    ['http://smsc.example.com:2775', undefined],
    ['smpp://user:pw@smsc.example.com:2775', undefined],
    ['smpp://smsc.example.com:2775/path', undefined],
    ['smpp://smsc.example.com:2775?x=1', undefined],
  ])('the address %s', (url, expected) => expect(parseSmppUrl(url)).toEqual(expected));
});

describe('deliver_sm, read', () => {
  const text = 'id:0A1B2C sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:stat:UNDELIV ha';

  it('a receipt in the TLV form', () => {
    expect(readDeliverSm({ esm_class: 4, source_addr: '79991234567', short_message: { message: '' }, receipted_message_id: '0A1B2C', message_state: 5 }))
      .toMatchObject({ kind: 'receipt', id: '0A1B2C', messageState: 5, handset: '79991234567' });
  });

  it('a receipt in the text form, searched only before its quoted text', () => {
    expect(readDeliverSm({ esm_class: 4, source_addr: '79991234567', short_message: { message: text } }))
      .toEqual({ kind: 'receipt', id: '0A1B2C', messageState: undefined, stat: 'DELIVRD', err: '000', handset: '79991234567', excerpt: 'stat:UNDELIV ha' });
  });

  it('a deliver_sm without the receipt bit is an incoming SMS', () => {
    expect(readDeliverSm({ esm_class: 0, source_addr: '79991234567', destination_addr: 'MyShop', short_message: { message: 'STOP' } }))
      .toEqual({ kind: 'incoming', from: '79991234567', to: 'MyShop', length: 4 });
  });
});

describe('message ids, hex or decimal', () => {
  const match = (a: string, b: string) => idKeys(a).some((k) => idKeys(b).includes(k));
  it.each([
    ['2F4A10', '3099152'], ['002f4a10', '3099152'], ['3099152', '2F4A10'], ['abc-123', 'ABC-123'], ['10', '16'],
  ])('%s and %s name the same message', (a, b) => expect(match(a, b)).toBe(true));
  it.each([['2F4A10', '2F4A11'], ['abc-123', 'abc-124'], ['3099152', '3099153']])('%s and %s do not', (a, b) => expect(match(a, b)).toBe(false));
  it('the same spelling is told apart from another reading', () => {
    expect(sameId('002F4A10', '2f4a10')).toBe(true);
    expect(sameId('10', '16')).toBe(false);
  });
});
