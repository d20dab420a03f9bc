import { afterEach, beforeEach, expect, it } from 'vitest';
import { createRetentionJob } from '../src/messages/retention.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';

let t: InstalledPortal;
let now: number;
const DAY = 86_400_000;
beforeEach(async () => {
  now = Date.UTC(2026, 10, 30, 12);
  t = await installedPortal({ clock: () => now, env: { MESSAGE_RETENTION: '90d' } });
});
afterEach(() => t.close());

it('erases the texts of final messages older than MESSAGE_RETENTION and keeps everything else about them', async () => {
  const row = (i: number, ageDays: number, state: string) => ({
    portal_id: t.portal.id, b24_message_id: `r${i}`, code: 'smsgw_myshop', message_to: '+79991234567', phone: '+79991234567', body: `text ${i}`,
    state, next_attempt_at: 0, created_at: now - ageDays * DAY, updated_at: now, gateway: 'smsru', gateway_message_id: `g${i}`,
  });
  // 12 old and delivered (over two batches of 5), one old but never final, one young.
  await t.ctx.db.batchInsert('messages', [...Array.from({ length: 12 }, (_, i) => row(i, 120 - i, 'delivered')), row(100, 95, 'sent'), row(101, 10, 'delivered')], 50);
  const job = createRetentionJob({ db: t.ctx.db, clock: () => now, log: t.ctx.deps.log, retentionMs: 90 * DAY, batch: 5 });
  expect(await job.runOnce()).toBe(12);
  const rows = await t.ctx.db('messages').orderBy('id').select('b24_message_id', 'body', 'phone', 'state', 'gateway_message_id');
  expect(rows.filter((r) => r.body === null).map((r) => r.b24_message_id)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}`));
  expect(rows.find((r) => r.b24_message_id === 'r100')!.body).toBe('text 100');
  expect(rows.find((r) => r.b24_message_id === 'r101')!.body).toBe('text 101');
  expect(rows.every((r) => r.phone === '+79991234567' && r.gateway_message_id)).toBe(true); // the metadata stays
  expect(await job.runOnce()).toBe(0);
  // Ninety days later the young one goes too; the deps' own job runs with the configured window.
  now += 90 * DAY;
  expect(await t.ctx.deps.retention.runOnce()).toBe(1);
});

it('erases the text of an old message that became final only after a run went past it', async () => {
  const row = (i: number, state: string) => ({
    portal_id: t.portal.id, b24_message_id: `w${i}`, code: 'smsgw_myshop', message_to: '+79991234567', phone: '+79991234567', body: `text ${i}`,
    state, next_attempt_at: 0, created_at: now - 100 * DAY, updated_at: now,
  });
  // The oldest waits for its status; seven delivered ones after it, over two batches of 5.
  await t.ctx.db.batchInsert('messages', [row(0, 'sent'), ...Array.from({ length: 7 }, (_, i) => row(i + 1, 'delivered'))], 50);
  const job = createRetentionJob({ db: t.ctx.db, clock: () => now, log: t.ctx.deps.log, retentionMs: 90 * DAY, batch: 5 });
  expect(await job.runOnce()).toBe(7);
  await t.ctx.db('messages').where({ b24_message_id: 'w0' }).update({ state: 'undelivered' });
  expect(await job.runOnce()).toBe(1);
  expect(await t.ctx.db('messages').whereNotNull('body').count({ n: '*' })).toEqual([{ n: 0 }]);
});

it('forgets the ids an SMS centre gave message parts once they are older than STATUS_MAX_AGE, and keeps the younger', async () => {
  const [id] = await t.ctx.db('messages').insert({
    portal_id: t.portal.id, b24_message_id: 'p1', code: 'smsgw_myshop', message_to: '+79991234567', phone: '+79991234567', body: 'x',
    state: 'delivered', next_attempt_at: 0, created_at: now - 5 * DAY, updated_at: now, gateway: 'smpp', gateway_message_id: 'a1',
  }).returning('id');
  const messageId = typeof id === 'object' ? Number((id as { id: number }).id) : Number(id);
  const part = (i: number, ageDays: number) => ({ portal_id: t.portal.id, message_id: messageId, part: i, parts: 12, gateway_id: `g${i}`, id_key: `k${i}`, created_at: now - ageDays * DAY });
  await t.ctx.db.batchInsert('message_parts', [...Array.from({ length: 11 }, (_, i) => part(i, 4)), part(11, 1)], 50);
  const job = createRetentionJob({ db: t.ctx.db, clock: () => now, log: t.ctx.deps.log, retentionMs: 90 * DAY, batch: 5, partsKeepMs: 3 * DAY });
  expect(await job.prunePartIds()).toBe(11);
  expect(await t.ctx.db('message_parts').pluck('id_key')).toEqual(['k11']);
  now += 3 * DAY; // the deps' own job keeps them STATUS_MAX_AGE (72 h by default)
  await t.ctx.deps.retention.runOnce();
  expect(await t.ctx.db('message_parts')).toHaveLength(0);
});

it('deletes the outbox rows of statuses reported or given up on more than MESSAGE_RETENTION ago, and keeps pending and younger ones', async () => {
  const [id] = await t.ctx.db('messages').insert({
    portal_id: t.portal.id, b24_message_id: 'o1', code: 'smsgw_myshop', message_to: '+79991234567', phone: '+79991234567', body: null,
    state: 'delivered', next_attempt_at: 0, created_at: now - 200 * DAY, updated_at: now,
  }).returning('id');
  const messageId = typeof id === 'object' ? Number((id as { id: number }).id) : Number(id);
  const report = (status: string, outcome: string, ageDays: number) => ({
    portal_id: t.portal.id, message_id: messageId, code: 'smsgw_myshop', b24_message_id: 'o1', status, outcome, next_attempt_at: 0,
    created_at: now - ageDays * DAY, updated_at: now - ageDays * DAY,
  });
  // Over two batches of 5: seven reported long ago, one pending as long (waiting for an administrator), one dropped,
  // one reported last week.
  const statuses = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 'pending', 'dropped', 'young'];
  await t.ctx.db.batchInsert('status_reports', [
    ...statuses.slice(0, 7).map((s, i) => report(s, 'reported', 150 - i)), report('pending', 'pending', 140), report('dropped', 'dropped', 130), report('young', 'reported', 7),
  ], 50);
  const job = createRetentionJob({ db: t.ctx.db, clock: () => now, log: t.ctx.deps.log, retentionMs: 90 * DAY, batch: 5 });
  expect(await job.pruneReports()).toBe(8);
  expect((await t.ctx.db('status_reports').orderBy('id').pluck('status'))).toEqual(['pending', 'young']);
  // The pending one is reported at last: a later run takes it too, once it is old enough.
  await t.ctx.db('status_reports').where({ status: 'pending' }).update({ outcome: 'reported', updated_at: now });
  expect(await job.pruneReports()).toBe(0);
  now += 91 * DAY;
  await t.ctx.deps.retention.runOnce(); // the deps' own job runs it with the rest
  expect(await t.ctx.db('status_reports')).toHaveLength(0);
});
