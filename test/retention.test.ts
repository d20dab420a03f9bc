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
