import { afterEach, beforeEach, expect, it } from 'vitest';
import request from 'supertest';
import { dlrToken } from '../src/delivery/dlr-url.js';
import { up } from '../migrations/20261202000001_receipt_quotes.js';
import { openAppPage, stateFor } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';

/**
 * An SMS centre's receipt quotes the message's first characters (`text:`, gateways.md §6). Kannel hands it over as
 * %A; the status text is shown in the portal's log to every user, who must never read a message there (a one-time
 * code, as here).
 */
let t: InstalledPortal;
beforeEach(async () => {
  t = await installedPortal();
});
afterEach(() => t.close());

const RECEIPT = 'id:77 sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:001 text:Your login code is 482913';

async function kannelMessage(b24Id: string, extra: Record<string, unknown> = {}) {
  const now = Date.now();
  const [row] = await t.ctx.db('messages').insert({
    portal_id: t.portal.id, b24_message_id: b24Id, code: 'c', message_to: '+79991234567', phone: '+79991234567', body: 'Your login code is 482913',
    state: 'sent', gateway: 'kannel', next_attempt_at: now, created_at: now, updated_at: now, ...extra,
  }).returning('id');
  return Number(typeof row === 'object' ? (row as { id: number }).id : row);
}

it("a Kannel report's receipt is kept without the message it quotes, and no user sees the quote in the log", async () => {
  const { ctx, fake, fp, portal } = t;
  const id = await kannelMessage('q1');
  const dlr = await request(ctx.app).get(`/dlr/kannel/${portal.id}/${dlrToken(ctx.deps.crypto, portal.id)}/${id}`).query({ type: '2', reply: RECEIPT });
  expect(dlr.status).toBe(200);
  const row = await ctx.db('messages').where({ id }).first();
  expect(row.state).toBe('undelivered');
  expect(row.failure_reason).toContain('stat:UNDELIV err:001'); // what the receipt says of the delivery stays
  for (const stored of [row.failure_reason, row.gateway_status_text]) expect(stored).not.toMatch(/482913|login code/);
  for (const userId of [1, 2]) { // the administrator and an employee
    const page = await openAppPage(ctx, fake, fp, { userId });
    const log = await request(ctx.app).post('/app/log').type('form').send({ state: stateFor(page.text, '/app/log') });
    expect(log.text).toContain('stat:UNDELIV');
    expect(log.text).not.toContain('482913');
  }
});

it('the migration erases the quotes stored before, and only them', async () => {
  const { ctx } = t;
  const quoted = await kannelMessage('q2', { state: 'undelivered', failure_reason: `not delivered to phone: ${RECEIPT}`, gateway_status_text: `not delivered to phone: ${RECEIPT}` });
  const upper = await kannelMessage('q3', { state: 'delivered', gateway_status_text: 'delivered to phone: id:8 stat:DELIVRD TEXT:Code 5555' });
  const plain = await kannelMessage('q4', { state: 'undelivered', failure_reason: 'not delivered to phone: id:9 stat:UNDELIV err:001', gateway_status_text: 'not delivered to phone: id:9 stat:UNDELIV err:001' });
  await up(ctx.db);
  await up(ctx.db); // again: nothing left to do, nothing changed
  const rows = Object.fromEntries((await ctx.db('messages').whereIn('id', [quoted, upper, plain]).select('id', 'failure_reason', 'gateway_status_text')).map((r) => [Number(r.id), r]));
  expect(rows[quoted]).toMatchObject({ failure_reason: 'not delivered to phone: id:77 sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:001' });
  expect(rows[quoted]!.gateway_status_text).toBe(rows[quoted]!.failure_reason);
  expect(rows[upper]).toMatchObject({ failure_reason: null, gateway_status_text: 'delivered to phone: id:8 stat:DELIVRD' });
  expect(rows[plain]).toMatchObject({ failure_reason: 'not delivered to phone: id:9 stat:UNDELIV err:001', gateway_status_text: 'not delivered to phone: id:9 stat:UNDELIV err:001' });
});
