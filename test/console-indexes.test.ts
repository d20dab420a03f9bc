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
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(() => t.drop());

it('the console\'s queries read messages through an index range, never by walking the table', async ({ skip }) => {
  if (isPostgres(t.db)) skip();
  const [portal] = await t.db('portals').insert({ member_id: 'm', domain: 'd.bitrix24.ru', rest_endpoint: 'https://d.bitrix24.ru/rest/', status: 'active', handler_key_hash: 'h', handler_key_enc: 'x', installed_at: 0, updated_at: 0 }).returning('id');
  const portalId = Number(typeof portal === 'object' ? portal.id : portal);
  const now = Date.UTC(2026, 10, 30);
  await t.db.batchInsert('messages', Array.from({ length: 2000 }, (_, i) => ({
    portal_id: portalId, b24_message_id: `m${i}`, code: 'c', message_to: '+79990000000', phone: '+79990000000', body: 'x',
    state: i % 10 ? 'delivered' : 'failed', failure_reason: i % 10 ? null : 'no route', next_attempt_at: 0,
    created_at: now - 40 * 86_400_000 + i, updated_at: now, final_at: now - 40 * 86_400_000 + i,
  })), 500);

  const queries: Array<{ sql: string; bindings: unknown[] }> = [];
  const record = (q: { sql: string; bindings?: unknown[] }) => queries.push({ sql: q.sql, bindings: q.bindings ?? [] });
  t.db.on('query', record);
  const stats = createStatsRepo(t.db);
  await Promise.all([stats.portalFigures(now), stats.queueHealth(now), stats.hourly(now)]);
  t.db.removeListener('query', record);

  const onMessages = queries.filter((q) => /from [`"]?messages/i.test(q.sql));
  expect(onMessages.length).toBeGreaterThanOrEqual(7);
  for (const q of onMessages) {
    const plan = (await t.db.raw(`EXPLAIN QUERY PLAN ${q.sql}`, q.bindings as never)) as Array<{ detail: string }>;
    const walks = plan.map((p) => p.detail).filter((d) => /^SCAN messages\b/.test(d) && !/messages_portal_last_error_index/.test(d));
    expect(walks, q.sql).toEqual([]);
  }
});
