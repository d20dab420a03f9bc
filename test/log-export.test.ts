import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { openAppPage, stateFor } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { eventually } from './helpers/wait.js';
import { csvCell, createExportGate } from '../src/messages/log-export.js';
import type { Portal } from '../src/portals/portal-repo.js';

describe('CSV cells', () => {
  it('quotes every cell holding a quote, comma, semicolon, CR or LF', () => {
    expect(csvCell('a\rb')).toBe('"a\rb"');
    expect(csvCell('a\nb')).toBe('"a\nb"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('a;b')).toBe('"a;b"');
    expect(csvCell('plain')).toBe('plain');
  });

  it('neutralises a leading = + - @ tab or CR, but leaves a phone number a number', () => {
    for (const lead of ['=', '+', '-', '@', '\t', '\r']) expect(csvCell(`${lead}cmd|' /C calc'!A0`)).toBe(`"'${lead}cmd|' /C calc'!A0"`);
    expect(csvCell('+79991234567')).toBe('+79991234567');
    expect(csvCell('+•••••••4567')).toBe('+•••••••4567');
    expect(csvCell('+7 999 SUM(1)')).toBe(`"'+7 999 SUM(1)"`);
  });
});

describe('export gate', () => {
  it('lets one export per portal run at a time and a few per minute', () => {
    let now = 0;
    const gate = createExportGate({ perMinute: 2, clock: () => now });
    const first = gate.enter(1);
    expect(first.ok).toBe(true);
    expect(gate.enter(1).ok).toBe(false); // still running
    expect(gate.enter(2).ok).toBe(true); // other portals are not held back
    if (first.ok) first.release();
    const second = gate.enter(1);
    expect(second.ok).toBe(true);
    if (second.ok) second.release();
    const third = gate.enter(1);
    expect(third).toEqual({ ok: false, retryAfterS: 60 });
    now += 60_000;
    expect(gate.enter(1).ok).toBe(true);
  });
});

describe('the log export', () => {
  let fake: FakeBitrix24;
  let fp: FakePortal;
  let ctx: TestContext;
  let portal: Portal;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ fake, fp, ctx, portal, close } = await installedPortal());
  });
  afterEach(() => close());

  const exportCsv = (state: string) => request(ctx.app).post('/app/log.csv').type('form').send({ state, full: '1' });

  it('streams every row of a long log newest first, and quotes a recipient holding a bare CR', async () => {
    const now = Date.now();
    const rows = Array.from({ length: 1_203 }, (_, i) => ({
      portal_id: portal.id, b24_message_id: `m${i}`, code: 'smsgw_myshop', message_to: i === 0 ? '+7999\r=1+1' : `+7999${String(i).padStart(7, '0')}`,
      phone: null, body: 'x', state: 'failed', failure_reason: 'invalid phone number', next_attempt_at: now, created_at: now + i, updated_at: now + i,
    }));
    for (let i = 0; i < rows.length; i += 200) await ctx.db('messages').insert(rows.slice(i, i + 200));
    const res = await exportCsv(stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log'));
    expect(res.status).toBe(200);
    const lines = res.text.replace(/^\uFEFF/, '').split('\r\n').filter(Boolean);
    expect(lines).toHaveLength(1 + 1_203); // a bare CR inside a quoted cell ends no line
    expect(lines[1]).toContain('+79990001202');
    expect(res.text).toContain(`"'+7999\r=1+1"`);
    const recipients = lines.slice(1).map((l) => l.split(',')[1]).filter((r) => r?.startsWith('+7999') && r.length === 12);
    expect(recipients).toEqual([...recipients].sort().reverse());
    expect(new Set(recipients).size).toBe(1_202);
  });

  it('holds every message of the range, not only the newest 100,000 (the log sends users to it for older ones)', async () => {
    const now = Date.now();
    const N = 100_010;
    // One statement (the same SQL on SQLite and PostgreSQL): row-by-row inserts would take most of the test's time.
    // Every ten messages share a millisecond, so the keyset's tie-break on id is walked too.
    await ctx.db.raw(
      `insert into messages (portal_id, b24_message_id, code, message_to, body, state, next_attempt_at, created_at, updated_at)
       with recursive n(i) as (select 0 union all select i + 1 from n where i < ?)
       select ?, 'm' || i, 'smsgw_myshop', '+' || (79990000000 + i), 'x', 'delivered', cast(? as bigint), cast(? as bigint) - i / 10, cast(? as bigint) from n`,
      [N - 1, portal.id, now, now, now],
    );
    const res = await exportCsv(stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log'));
    expect(res.status).toBe(200);
    const lines = res.text.replace(/^\uFEFF/, '').split('\r\n').filter(Boolean);
    expect(lines).toHaveLength(1 + N);
    expect(new Set(lines.slice(1).map((l) => l.split(',')[1])).size).toBe(N);
    expect(lines[N]).toContain(`+7999${String(N - 10).padStart(7, '0')}`); // the oldest millisecond's first message
  }, 120_000);

  it('pages reach the newest 10,000 messages of a range and say so; a page past the end shows the last one', async () => {
    const now = Date.UTC(2026, 10, 20, 12);
    const day = (d: number) => new Date(now + d * 86_400_000).toISOString().slice(0, 10);
    const rows = Array.from({ length: 10_100 }, (_, i) => ({
      portal_id: portal.id, b24_message_id: `w${i}`, code: 'smsgw_myshop', message_to: `+7999${String(i).padStart(7, '0')}`, phone: null, body: 'x',
      state: 'failed', next_attempt_at: now, created_at: now - i * 60_000, updated_at: now, // a minute apart: a week
    }));
    for (let i = 0; i < rows.length; i += 500) await ctx.db('messages').insert(rows.slice(i, i + 500));
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log');
    const log = (fields: Record<string, string>) => request(ctx.app).post('/app/log').type('form').send({ state, ...fields }).then((r) => r.text);
    const first = await log({});
    expect(first).toContain('page 1 of 200');
    expect(first).toContain('id="log-windowed"');
    const far = await log({ page: '100000' });
    expect(far).toContain('page 200 of 200');
    expect(far).toContain('+•••••••9999'); // the 10,000th newest
    // A narrower range reaches back past the window: one whole day, six days ago.
    const older = await log({ from: day(-6), to: day(-6) });
    expect(older).toContain('page 1 of 29'); // 1,440 messages
    expect(older).not.toContain('id="log-windowed"');
  });

  it('answers 429 with Retry-After when a portal exports too often', async () => {
    const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log');
    for (let i = 0; i < 5; i++) expect((await exportCsv(state)).status).toBe(200);
    const limited = await exportCsv(state);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.text).toContain('too often');
  });
});

describe('an export whose client goes away', () => {
  it('ends, and the portal can export again at once', async () => {
    const { fake, fp, ctx, portal, close } = await installedPortal({ listening: true });
    try {
      const now = Date.now();
      // Enough rows that the socket's buffers fill and the export waits for the client to read.
      const rows = Array.from({ length: 60_000 }, (_, i) => ({
        portal_id: portal.id, b24_message_id: `m${i}`, code: 'smsgw_myshop', message_to: `+7999${String(i).padStart(7, '0')}`, phone: null, body: 'x',
        state: 'failed', failure_reason: 'a reason long enough to make each line of the export weigh about a hundred bytes',
        next_attempt_at: now, created_at: now + i, updated_at: now + i,
      }));
      for (let i = 0; i < rows.length; i += 500) await ctx.db('messages').insert(rows.slice(i, i + 500));
      const state = stateFor((await openAppPage(ctx, fake, fp)).text, '/app/log');
      const body = new URLSearchParams({ state }).toString();
      let exporting: http.ServerResponse | undefined; // the export's response, seen from the server's side
      ctx.server.on('request', (req, res) => {
        if (req.url === '/app/log.csv') exporting = res;
      });

      const req = http.request(`${ctx.publicUrl}/app/log.csv`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      req.on('error', () => {}); // what going away may raise on our side
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        req.once('response', resolve);
        req.once('error', reject);
        req.end(body);
      });
      expect(res.statusCode).toBe(200);
      res.pause(); // a client that stops reading…
      await eventually(() => exporting?.writableNeedDrain === true, 'the export to wait for the client to read', 10_000);
      req.destroy(); // …and goes away
      let again = 0;
      await eventually(async () => (again = (await request(ctx.app).post('/app/log.csv').type('form').send({ state }).then((r) => r.status))) !== 429, 'the next export to be let in', 10_000);
      expect(again).toBe(200);
    } finally {
      await close();
    }
  }, 60_000);
});
