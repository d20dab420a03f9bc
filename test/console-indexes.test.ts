import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStatsRepo } from '../src/console/stats-repo.js';
import { isPostgres } from '../src/platform/db.js';
import { createTestDb } from './helpers/db.js';

/**
 * The console's figures must cost what the recent rows cost, whatever the table holds: every query they run is
 * checked with SQLite's EXPLAIN QUERY PLAN (no statistics, as in the field) for a walk over the whole messages table
 * or one of its indexes. PostgreSQL plans from its own statistics; there the bench measures the page instead.
 */
let t: Awaited<ReturnType<typeof createTestDb>>;
let portalId: number;
const now = Date.UTC(2026, 10, 30);
beforeAll(async () => {
  t = await createTestDb();
  const portal = (member: string) => ({ member_id: member, domain: `${member}.bitrix24.ru`, rest_endpoint: `https://${member}.bitrix24.ru/rest/`, status: 'active', handler_key_hash: member, handler_key_enc: 'x', installed_at: 0, updated_at: 0 });
  const [row] = await t.db('portals').insert(portal('m')).returning('id');
  portalId = Number(typeof row === 'object' ? row.id : row);
  await t.db('portals').insert(portal('quiet')); // no messages at all
  const message = (i: number) => ({ portal_id: portalId, b24_message_id: `m${i}`, code: 'c', message_to: '+79990000000', phone: '+79990000000', body: 'x', next_attempt_at: 0, updated_at: now });
  await t.db.batchInsert('messages', Array.from({ length: 2000 }, (_, i) => ({
    ...message(i), state: i % 10 ? 'delivered' : 'failed', failure_reason: i % 10 ? null : `no route ${i}`,
    created_at: now - 40 * 86_400_000 + i, final_at: now - 40 * 86_400_000 + i,
  })), 500);
  await t.db('messages').insert([0, 1, 2].map((i) => ({ ...message(2000 + i), state: 'queued', attempts: i, created_at: now - (3 - i) * 60_000 })));
});
afterAll(() => t.drop());

it("shows each portal's last error, the oldest queued message's age and how many queued messages are retried", async () => {
  const stats = createStatsRepo(t.db);
  const figures = await stats.portalFigures(now);
  expect(figures.get(portalId)?.lastError).toBe('no route 1990');
  expect([...figures.values()].filter((f) => f.lastError !== null)).toHaveLength(1);
  const health = await stats.queueHealth(now);
  expect(health).toMatchObject({ queued: 3, oldestQueuedAgeMs: 3 * 60_000, retrying: 2 });
});

it('the console\'s queries read messages through an index range, never by walking the table', async ({ skip }) => {
  if (isPostgres(t.db)) skip();
  const queries: Array<{ sql: string; bindings: unknown[] }> = [];
  const record = (q: { sql: string; bindings?: unknown[] }) => queries.push({ sql: q.sql, bindings: q.bindings ?? [] });
  t.db.on('query', record);
  const stats = createStatsRepo(t.db);
  await Promise.all([stats.portalFigures(now), stats.queueHealth(now), stats.hourly(now)]);
  t.db.removeListener('query', record);

  const plans: Array<{ sql: string; plan: string[] }> = [];
  for (const q of queries.filter((q) => /from [`"]?messages/i.test(q.sql))) {
    const plan = (await t.db.raw(`EXPLAIN QUERY PLAN ${q.sql}`, q.bindings as never)) as Array<{ detail: string }>;
    plans.push({ sql: q.sql, plan: plan.map((p) => p.detail) });
  }
  expect(plans.length).toBeGreaterThanOrEqual(7);
  // Each portal's last error too: one seek per portal, not a walk over every message that ever failed.
  for (const { sql, plan } of plans) expect(plan.filter((d) => /^SCAN messages\b/.test(d)), sql).toEqual([]);
  // The oldest queued message and the retrying count read the queued rows' own index entries, not every queued row.
  const queueReads = plans.filter((p) => /min\(`created_at`\)|`attempts`/.test(p.sql));
  expect(queueReads).toHaveLength(2);
  for (const { sql, plan } of queueReads) expect(plan.join('\n'), sql).toMatch(/^SEARCH messages USING COVERING INDEX messages_queued_(created_at|attempts)_index \(state=\?/);
});
