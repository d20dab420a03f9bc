import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { Knex } from 'knex';
import { createTestContext, type TestContext } from './helpers/app.js';
import { isPostgres } from '../src/platform/db.js';
import { createMetrics, sharedRead } from '../src/platform/metrics.js';

let ctx: TestContext | undefined;
afterEach(async () => {
  await ctx?.close();
  ctx = undefined;
});

async function addPortal(db: Knex): Promise<number> {
  const [row] = await db('portals')
    .insert({ member_id: 'metrics-portal', domain: 'm.bitrix24.ru', rest_endpoint: 'https://m.bitrix24.ru/rest/', handler_key_hash: 'h', handler_key_enc: 'e', installed_at: 0, updated_at: 0 })
    .returning('id');
  return Number(typeof row === 'object' ? row.id : row);
}

/** `n` messages in one state, inserted by the database itself in one statement (fast on both dialects). */
function seed(db: Knex, portalId: number, n: number, state: string, gateway: string) {
  return db.raw(
    `with recursive s(i) as (select 1 union all select i + 1 from s where i < ${n})
     insert into messages (portal_id, b24_message_id, code, message_to, state, next_attempt_at, gateway, created_at, updated_at)
     select ${portalId}, '${state}-' || cast(i as varchar(12)), 'c', '+79990000000', '${state}', 0, '${gateway}', i, i from s`,
  );
}

describe('GET /metrics', () => {
  it('counts only live messages through an index, once for any number of parallel scrapes, without queueing other reads behind them', async () => {
    ctx = await createTestContext();
    const db = ctx.db;
    const portalId = await addPortal(db);
    await seed(db, portalId, 200_000, 'delivered', 'smsru');
    await seed(db, portalId, 7, 'sent', 'kannel');
    await seed(db, portalId, 3, 'queued', 'smsru');
    await db.raw(isPostgres(db) ? 'analyze messages' : 'analyze');

    const queries: Array<{ sql: string; bindings: unknown[] }> = [];
    const onQuery = (q: { sql: string; bindings?: unknown[] }) => queries.push({ sql: q.sql, bindings: q.bindings ?? [] });
    db.on('query', onQuery);
    const scrapes = Array.from({ length: 10 }, () => request(ctx!.app).get('/metrics'));
    const [health, ...answers] = await Promise.all([request(ctx.app).get('/healthz'), ...scrapes]);
    db.off('query', onQuery);

    const isLive = (sql: string) => /from .messages./i.test(sql);
    const isPending = (sql: string) => /from .status_reports./i.test(sql);
    expect(queries.filter((q) => isLive(q.sql))).toHaveLength(1);
    expect(queries.filter((q) => isPending(q.sql))).toHaveLength(1);
    // Whatever the order of arrival, at most those two metrics queries can be ahead of the health check's read.
    const healthRead = queries.findIndex((q) => /select 1/i.test(q.sql));
    expect(queries.slice(0, healthRead).filter((q) => isLive(q.sql) || isPending(q.sql)).length).toBeLessThanOrEqual(2);
    expect(health.status).toBe(200);

    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.text).toContain('sms_messages{state="sent",gateway="kannel"} 7');
      expect(res.text).toContain('sms_messages{state="queued",gateway="smsru"} 3');
      expect(res.text).not.toContain('state="delivered"');
      expect(res.text).toContain('sms_status_reports_pending 0');
    }

    const live = queries.find((q) => isLive(q.sql))!;
    if (isPostgres(db)) {
      const plan = (await db.raw(`explain ${live.sql.replace(/\$\d+/g, '?')}`, live.bindings as Knex.RawBinding[])).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
      expect(plan).not.toMatch(/Seq Scan on messages/);
    } else {
      const plan = (await db.raw(`explain query plan ${live.sql}`, live.bindings as Knex.RawBinding[])) as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/SEARCH messages USING (COVERING )?INDEX/);
    }
  });

  it('asks for the bearer token when METRICS_TOKEN is set', async () => {
    const token = 'scrape-token-0123456789';
    ctx = await createTestContext({ env: { METRICS_TOKEN: token } });
    const none = await request(ctx.app).get('/metrics');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.text).not.toContain('sms_messages');
    const wrong = await request(ctx.app).get('/metrics').set('authorization', `Bearer ${token}x`);
    expect(wrong.status).toBe(401);
    const basic = await request(ctx.app).get('/metrics').set('authorization', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`);
    expect(basic.status).toBe(401);
    const ok = await request(ctx.app).get('/metrics').set('authorization', `Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('# TYPE sms_messages_final_total counter');
  });

  it('is open when METRICS_TOKEN is unset', async () => {
    ctx = await createTestContext();
    expect((await request(ctx.app).get('/metrics')).status).toBe(200);
  });
});

describe('metrics kept as work happens', () => {
  it('counts final states by state and gateway', async () => {
    ctx = await createTestContext();
    ctx.deps.metrics.messagesFinal.inc({ state: 'delivered', gateway: 'smsru' });
    ctx.deps.metrics.messagesFinal.inc({ state: 'delivered', gateway: 'smsru' });
    ctx.deps.metrics.messagesFinal.inc({ state: 'failed', gateway: '' });
    const text = await ctx.deps.metrics.render();
    expect(text).toContain('sms_messages_final_total{state="delivered",gateway="smsru"} 2');
    expect(text).toContain('sms_messages_final_total{state="failed",gateway=""} 1');
  });

  it('a shared read runs once for callers in flight, is reused while fresh, and is read again after', async () => {
    let t = 0;
    let runs = 0;
    let release!: () => void;
    const read = sharedRead(async () => {
      runs++;
      await new Promise<void>((r) => (release = r));
      return runs;
    }, { maxAgeMs: 10_000, now: () => t });
    const inFlight = [read(), read(), read()];
    t = 60_000; // even a slow read is not started twice
    const late = read();
    release();
    expect(await Promise.all([...inFlight, late])).toEqual([1, 1, 1, 1]);
    t += 9_999;
    expect(await read()).toBe(1);
    t += 1;
    const again = read();
    release();
    expect(await again).toBe(2);
    expect(runs).toBe(2);
  });

  it('a failed shared read is not kept', async () => {
    let fail = true;
    const m = createMetrics();
    m.gauge('g', 'a gauge', sharedRead(async () => {
      if (fail) throw new Error('database down');
      return [{ labels: {}, value: 5 }];
    }, { maxAgeMs: 10_000, now: () => 0 }));
    await expect(m.render()).rejects.toThrow('database down');
    fail = false;
    expect(await m.render()).toContain('g 5');
  });
});
