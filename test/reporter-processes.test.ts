import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTestDb } from './helpers/db.js';
import { createStatusReporter } from '../src/delivery/status-reporter.js';
import { createReportRepo } from '../src/delivery/report-repo.js';
import { createLeases } from '../src/platform/leases.js';
import { createLogger } from '../src/platform/logger.js';
import type { BatchResult } from '../src/bitrix/rest-client.js';
import type { Db } from '../src/platform/db.js';

/** Status reporters in several processes on one database, some portals hanging (a Bitrix24 region that does not answer). */
let t: Awaited<ReturnType<typeof createTestDb>>;
beforeEach(async () => {
  t = await createTestDb();
});
afterEach(() => t.drop());

async function addPortal(db: Db, id: number, now: number) {
  await db('portals').insert({
    id, member_id: `m${id}`, domain: `p${id}.bitrix24.ru`, rest_endpoint: `https://p${id}.bitrix24.ru/rest/`, handler_key_hash: `h${id}`, handler_key_enc: 'x', installed_at: now, updated_at: now,
  });
}

/** `n` delivered messages of the portal with their status reports due. */
async function addReports(db: Db, portalId: number, n: number, now: number) {
  for (let i = 0; i < n; i += 200) {
    const rows = Array.from({ length: Math.min(200, n - i) }, (_, k) => ({
      portal_id: portalId, b24_message_id: `b${portalId}-${now}-${i + k}-${Math.random().toString(36).slice(2)}`, code: 'c', message_to: '+79990000000',
      phone: '+79990000000', body: 'hi', state: 'delivered', final_at: now, next_attempt_at: now, created_at: now, updated_at: now,
    }));
    const ids = (await db('messages').insert(rows).returning('id')).map((r: number | { id: number }) => Number(typeof r === 'object' ? r.id : r));
    await db('status_reports').insert(ids.map((id, k) => ({
      portal_id: portalId, message_id: id, code: 'c', b24_message_id: rows[k]!.b24_message_id, status: 'delivered', next_attempt_at: now, created_at: now, updated_at: now,
    })));
  }
}

it('two processes each holding a hanging portal with a backlog do not hide a third portal\'s reports from either of them', async () => {
  const now = Date.UTC(2026, 11, 2, 12);
  for (const id of [1, 2, 3]) await addPortal(t.db, id, now);
  const hanging = new Set([1, 3]);
  const called = new Set<number>();
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const rest = {
    batch: async (portalId: number, cmds: unknown[]): Promise<BatchResult[]> => {
      called.add(portalId);
      if (hanging.has(portalId)) await released;
      return cmds.map(() => ({ ok: true, result: true }) as BatchResult);
    },
    batchAs: async () => [],
  };
  const reporter = () => createStatusReporter({
    reports: createReportRepo(t.db), rest: rest as never, leases: createLeases(t.db), clock: () => now + 1_000, log: createLogger('silent'),
    identities: { purgeExpired: async () => 0, setReportsWaiting: async () => {}, promoteAdmin: async () => false, anyWaiting: async () => false } as never,
    portals: { findById: async () => undefined },
    options: { claimLimit: 500, leaseMs: 60_000, maxAgeMs: 14 * 86_400_000, retryBaseMs: 2_000, retryCapMs: 300_000, idlePollMs: 1_000, lingerMs: 500 },
  });
  const [a, b] = [reporter(), reporter()];
  await addReports(t.db, 1, 500, now);
  const runA = a.runOnce(); // A takes portal 1: its call hangs
  while (!called.has(1)) await new Promise((r) => setImmediate(r));
  await addReports(t.db, 3, 500, now);
  const runB = b.runOnce(); // B takes portal 3: its call hangs
  while (!called.has(3)) await new Promise((r) => setImmediate(r));
  await addReports(t.db, 1, 500, now);
  await addReports(t.db, 3, 500, now);
  await addReports(t.db, 2, 1, now);
  for (let i = 0; i < 3; i++) {
    await a.runOnce();
    await b.runOnce();
  }
  const third = await t.db('status_reports').where({ portal_id: 2 }).first('outcome');
  release();
  await Promise.all([runA, runB]);
  expect(called.has(2)).toBe(true);
  expect(third.outcome).toBe('reported');
}, 60_000);
