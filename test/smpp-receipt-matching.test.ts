import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTestDb } from './helpers/db.js';
import { eventually } from './helpers/wait.js';
import { createQueueRepo } from '../src/delivery/queue-repo.js';
import { createPartRepo } from '../src/delivery/part-repo.js';
import { createSmppReceipts } from '../src/delivery/smpp-receipts.js';
import { createLogger } from '../src/platform/logger.js';
import type { Receipt, SmppReceiptSink } from '../src/gateways/smpp/pool.js';

/**
 * Which message an SMPP receipt settles when ids look alike (gateways.md §6): a centre may answer a submit in decimal
 * and write the receipt in hex (or the reverse), and may give an id again (its counter restarted, or another centre
 * on the same account). A receipt settles the message that can still change and whose number it names; one it cannot
 * place is looked up again later, never forced onto a message of another number.
 */
let t: Awaited<ReturnType<typeof createTestDb>>;
let portalId: number;
let sink: SmppReceiptSink;
let retries: Array<() => void>;
let logged: string[];
const now = Date.UTC(2026, 11, 2, 12);

beforeEach(async () => {
  t = await createTestDb();
  const [p] = await t.db('portals').insert({ member_id: 'm1', domain: 'a.bitrix24.ru', rest_endpoint: 'https://a.bitrix24.ru/rest/', handler_key_hash: 'h', handler_key_enc: 'x', installed_at: now, updated_at: now }).returning('id');
  portalId = Number(typeof p === 'object' ? (p as { id: number }).id : p);
  retries = [];
  logged = [];
  sink = createSmppReceipts({
    queue: createQueueRepo(t.db), parts: createPartRepo(t.db), clock: () => now, log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l).msg) }), retryMs: [2_000], later: (_ms, run) => void retries.push(run),
  });
});
afterEach(() => t.drop());

/** A message at the SMPP gateway; `id` its centre id (stored with its part) once the centre's answer came. */
async function message(b24: string, phone: string, state: string, id: string | null, age = 0) {
  const [r] = await t.db('messages').insert({
    portal_id: portalId, b24_message_id: b24, code: 'c', body: 'hi', gateway: 'smpp', message_to: phone, phone, state, gateway_message_id: id,
    next_attempt_at: now, created_at: now - age, updated_at: now - age, ...(state === 'sending' ? { lease_token: 't', lease_until: now + 20_000, submitted_at: now } : {}),
  }).returning('id');
  const messageId = Number(typeof r === 'object' ? (r as { id: number }).id : r);
  if (id !== null) await createPartRepo(t.db).record(portalId, { messageId, part: 0, parts: 1, smscId: id }, now - age);
  return messageId;
}
const stateOf = async (b24: string) => (await t.db('messages').where({ b24_message_id: b24 }).first()).state as string;
const receipt = (id: string, handset: string, state: 'delivered' | 'undelivered' = 'delivered'): Receipt =>
  ({ id, handset, status: { state, code: state === 'delivered' ? 'DELIVRD' : 'UNDELIV', text: state } });

it('a receipt in hex finds the message whose decimal id it reads as, not an older settled one spelt the same', async () => {
  await message('A', '+79990000001', 'delivered', '1000', 3_600_000);
  await message('B', '+79990000002', 'sent', '4096'); // 0x1000
  await sink.receipt(portalId, receipt('1000', '79990000002', 'undelivered'));
  expect([await stateOf('A'), await stateOf('B')]).toEqual(['delivered', 'undelivered']);
});

it('an id the centre gives again settles the message still waiting for it, not the settled one that had it before', async () => {
  await message('old', '+79990000001', 'delivered', '1000', 86_400_000);
  await message('new', '+79990000001', 'sent', '1000');
  await sink.receipt(portalId, receipt('1000', '79990000001', 'undelivered'));
  expect([await stateOf('old'), await stateOf('new')]).toEqual(['delivered', 'undelivered']);
  expect(retries).toHaveLength(0);
});

it("of two open messages with the id in two readings, the receipt's number decides", async () => {
  await message('dec', '+79990000001', 'sent', '1000');
  await message('hex', '+79990000002', 'sent', '4096');
  await sink.receipt(portalId, receipt('1000', '79990000002'));
  expect([await stateOf('dec'), await stateOf('hex')]).toEqual(['sent', 'delivered']);
  await sink.receipt(portalId, receipt('1000', '79990000001'));
  expect(await stateOf('dec')).toBe('delivered');
});

it('a receipt that reads as another number\'s message is looked up again later, and then finds its own', async () => {
  await message('x', '+79990000001', 'sent', '3e8'); // 1000 in hex
  const y = await message('y', '+79990000002', 'sending', null); // its answer ("1000") is not stored yet
  await sink.receipt(portalId, receipt('1000', '79990000002', 'undelivered'));
  expect([await stateOf('x'), await stateOf('y')]).toEqual(['sent', 'sending']);
  expect(retries).toHaveLength(1);
  await t.db('messages').where({ id: y }).update({ state: 'sent', gateway_message_id: '1000' });
  await createPartRepo(t.db).record(portalId, { messageId: y, part: 0, parts: 1, smscId: '1000' }, now);
  retries.shift()!(); // the retry runs on its own
  await eventually(async () => (await stateOf('y')) === 'undelivered', 'the second look to settle y');
  expect(await stateOf('x')).toBe('sent');
});

it('a receipt naming a settled message changes nothing; its id given again to a newer message is found on a later look', async () => {
  await message('done', '+79990000001', 'delivered', '77', 3_600_000);
  const again = await message('again', '+79990000001', 'sending', null); // the centre's answer ("77" again) not stored yet
  await sink.receipt(portalId, receipt('77', '79990000001', 'undelivered'));
  expect([await stateOf('done'), await stateOf('again')]).toEqual(['delivered', 'sending']);
  expect(retries).toHaveLength(1);
  await t.db('messages').where({ id: again }).update({ state: 'sent', gateway_message_id: '77' });
  await createPartRepo(t.db).record(portalId, { messageId: again, part: 0, parts: 1, smscId: '77' }, now);
  retries.shift()!();
  await eventually(async () => (await stateOf('again')) === 'undelivered', 'the second look to settle the newer message');
  expect(await stateOf('done')).toBe('delivered');
});

it("a later part's receipt for a message its first part settled changes nothing and is not looked up again", async () => {
  const id = await message('long', '+79990000001', 'delivered', '500');
  await createPartRepo(t.db).record(portalId, { messageId: id, part: 1, parts: 2, smscId: '501' }, now);
  await sink.receipt(portalId, receipt('501', '79990000001', 'undelivered'));
  expect(await stateOf('long')).toBe('delivered');
  expect(retries).toHaveLength(0);
});

it('a receipt without a usable number still settles by the id as written', async () => {
  await message('m', '+79990000001', 'sent', 'abc123');
  await sink.receipt(portalId, receipt('abc123', ''));
  expect(await stateOf('m')).toBe('delivered');
});

it('a receipt the centre sends again for a message already delivered does not settle another message with the same text to that number', async () => {
  // M1 was delivered; the centre sends its receipt again (after a reconnect, say).
  const m1 = await message('M1', '+79990000001', 'delivered', '1000');
  // M2, the same text to the same customer: its submit's answer was lost, so it may never have reached the centre.
  const m2 = await message('M2', '+79990000001', 'sending', null);
  await t.db('messages').whereIn('id', [m1, m2]).update({ body: 'Your order is ready' });
  await t.db('messages').where({ id: m2 }).update({ unknown_since: now });
  await sink.receipt(portalId, { ...receipt('1000', '79990000001'), excerpt: 'Your order is ready' });
  expect(await stateOf('M1')).toBe('delivered');
  expect(await stateOf('M2')).toBe('sending');
  // A receipt naming an id nobody was given still settles it by number, as before.
  await sink.receipt(portalId, { ...receipt('2000', '79990000001'), excerpt: 'Your order is ready' });
  expect(await stateOf('M2')).toBe('delivered');
});

it("a receipt that comes before its submit's answer is not taken for an earlier unknown outcome with the same text to the same number, and settles its own message once its id is stored", async () => {
  // A: its connection dropped after the submit left: unknown outcome (it may never have reached the centre).
  const a = await message('A', '+79990000001', 'sending', null);
  await t.db('messages').where({ id: a }).update({ unknown_since: now - 60_000, lease_token: null, lease_until: null });
  // B: the same text sent again to the same customer; the centre took it (id 4242) but its answer is not stored yet.
  const b = await message('B', '+79990000001', 'sending', null);
  await t.db('messages').whereIn('id', [a, b]).update({ body: 'Your order 5512 is ready for pickup' });
  await sink.receipt(portalId, { ...receipt('4242', '79990000001'), excerpt: 'Your order 5512 is r' });
  expect(await stateOf('A')).toBe('sending'); // nothing was heard of A: still unknown
  expect(retries).toHaveLength(1); // the receipt waits to be looked up again
  // B's answer arrives and is stored.
  await t.db('messages').where({ id: b }).update({ state: 'sent', gateway_message_id: '4242', lease_token: null });
  await createPartRepo(t.db).record(portalId, { messageId: b, part: 0, parts: 1, smscId: '4242' }, now);
  for (const run of retries.splice(0)) run();
  await eventually(async () => (await stateOf('B')) === 'delivered', 'B to be settled by its own receipt', 3_000);
  expect(await stateOf('A')).toBe('sending');
});

it('a receipt that waited for a message in flight whose answer never came settles no unknown outcome by its number when either could be its', async () => {
  const a = await message('A', '+79990000001', 'sending', null);
  await t.db('messages').where({ id: a }).update({ unknown_since: now - 60_000, lease_token: null, lease_until: null });
  const b = await message('B', '+79990000001', 'sending', null);
  await t.db('messages').whereIn('id', [a, b]).update({ body: 'Your order 5512 is ready for pickup' });
  await sink.receipt(portalId, { ...receipt('4242', '79990000001'), excerpt: 'Your order 5512 is r' });
  expect(retries).toHaveLength(1);
  // B's answer is lost too: two unknown outcomes with the same text, and the receipt could be either's.
  await t.db('messages').where({ id: b }).update({ unknown_since: now, lease_token: null, lease_until: null });
  retries.splice(0)[0]!();
  await eventually(() => logged.includes('smpp.receipt.unmatched'), 'the last look to end');
  expect([await stateOf('A'), await stateOf('B')]).toEqual(['sending', 'sending']);
});

it('a receipt looked up again settles by its number only an unknown outcome submitted before the receipt came', async () => {
  // The receipt is for an id nobody was given and no message to its number is in flight: one try finds nothing.
  await sink.receipt(portalId, { ...receipt('4242', '79990000001'), excerpt: 'Your order 5512 is r' });
  expect(retries).toHaveLength(1);
  // A message submitted after the receipt came cannot be its own, whatever its text.
  const later = await message('later', '+79990000001', 'sending', null);
  await t.db('messages').where({ id: later }).update({ body: 'Your order 5512 is ready for pickup', submitted_at: now + 1, unknown_since: now + 2_000, lease_token: null, lease_until: null });
  retries.splice(0)[0]!();
  await eventually(() => logged.includes('smpp.receipt.unmatched'), 'the last look to end');
  expect(await stateOf('later')).toBe('sending');
});

it('a receipt that waited for a message in flight which then got another id settles the one unknown outcome with its text by its number', async () => {
  const a = await message('A', '+79990000001', 'sending', null);
  await t.db('messages').where({ id: a }).update({ unknown_since: now - 60_000, lease_token: null, lease_until: null });
  const b = await message('B', '+79990000001', 'sending', null);
  await t.db('messages').whereIn('id', [a, b]).update({ body: 'Your order 5512 is ready for pickup' });
  await sink.receipt(portalId, { ...receipt('4242', '79990000001'), excerpt: 'Your order 5512 is r' });
  expect(await stateOf('A')).toBe('sending');
  // B's answer names another id: the receipt was not B's, so it is A's, the only other message it can be.
  await t.db('messages').where({ id: b }).update({ state: 'sent', gateway_message_id: '5555', lease_token: null });
  await createPartRepo(t.db).record(portalId, { messageId: b, part: 0, parts: 1, smscId: '5555' }, now);
  retries.splice(0)[0]!();
  await eventually(async () => (await stateOf('A')) === 'delivered', 'A to be settled by its number', 3_000);
  expect((await t.db('messages').where({ id: a }).first()).gateway_message_id).toBe('4242');
  expect(await stateOf('B')).toBe('sent');
});

it('a late "not now" refusal puts back only a message still waiting for its outcome; one settled or taken again meanwhile is left alone', async () => {
  const refusal = { accepted: false as const, code: 'ESME_RTHROTTLED', text: 'the SMS centre asks to send more slowly (throttled)', retry: true as const };
  const waiting = await message('waiting', '+79990000001', 'sending', null);
  await t.db('messages').where({ id: waiting }).update({ unknown_since: now - 5_000, lease_token: null, lease_until: null, attempts: 1 });
  const settled = await message('settled', '+79990000002', 'delivered', '1000');
  const again = await message('again', '+79990000003', 'sending', null); // claimed again by another worker: leased, in flight
  for (const id of [waiting, settled, again]) await sink.late(portalId, id, refusal);
  const row = await t.db('messages').where({ id: waiting }).first();
  expect(row).toMatchObject({ state: 'queued', unknown_since: null, gateway_status: 'ESME_RTHROTTLED' });
  expect(Number(row.next_attempt_at)).toBeGreaterThan(now);
  expect(await stateOf('settled')).toBe('delivered');
  expect(await t.db('messages').where({ id: again }).first()).toMatchObject({ state: 'sending', lease_token: 't' });
});
