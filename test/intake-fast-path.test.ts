import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { buildDeps } from '../src/deps.js';
import { createApp } from '../src/web/app.js';
import { createLogger } from '../src/platform/logger.js';
import { AUTH_CACHE_MS } from '../src/portals/portal-repo.js';
import { smsForm } from './fakes/sms-body.js';
import { TEST_SECRET_KEY } from './helpers/app.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { eventually } from './helpers/wait.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

let t: InstalledPortal;
let handlerPath: string;
beforeEach(async () => {
  t = await installedPortal({ env: { WORKER_ENABLED: '0' } });
  const h = new URL(t.fp.senders.get('smsgw_myshop')!.HANDLER);
  handlerPath = h.pathname + h.search;
});
afterEach(() => t.close());

const sms = (id: string, to = '+79991234567') => smsForm({ portal: t.fp, code: 'smsgw_myshop', id, to, text: 'Hello' });
const storedCount = async () => Number((await t.ctx.db('messages').count({ n: '*' }))[0]!.n);
const post = (app: Parameters<typeof request>[0], body: string) => request(app).post(handlerPath).type('form').send(body);

/** A second process on the same database: its own deps (and so its own memory), its own clock. */
function otherProcess() {
  let now = Date.now();
  const deps = buildDeps({ config: t.ctx.config, db: t.ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY, clock: () => now });
  return { app: createApp(deps), deps, advance: (ms: number) => (now += ms) };
}

describe('the handler under concurrent load', () => {
  it('answers every request of a burst only with its own row committed, each stored once', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `burst${String(i).padStart(27, '0')}`);
    const answers = await Promise.all(ids.map((id, i) => post(t.ctx.app, sms(id, `+7999123${String(4000 + i)}`))));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    expect(answers.map((a) => a.body.status)).toEqual(ids.map(() => 'queued'));
    const stored = await t.ctx.db('messages').select('b24_message_id', 'phone', 'state');
    expect(stored.map((r) => r.b24_message_id).sort()).toEqual([...ids].sort());
    expect(new Set(stored.map((r) => r.phone)).size).toBe(60);
    expect(stored.every((r) => r.state === 'queued')).toBe(true);
  });

  it('stores a message posted twice at the same moment once, and tells the second caller it was a duplicate', async () => {
    const [a, b] = await Promise.all([post(t.ctx.app, sms('twice000000000000000000000000001')), post(t.ctx.app, sms('twice000000000000000000000000001'))]);
    expect([a.body.status, b.body.status].sort()).toEqual(['duplicate', 'queued']);
    expect(await storedCount()).toBe(1);
  });
});

describe('authentication served from memory', () => {
  it('an operator\'s disable takes effect at once in the process that made it, and within AUTH_CACHE_MS in every other', async () => {
    const other = otherProcess();
    expect((await post(other.app, sms('before00000000000000000000000001'))).status).toBe(200); // the other process has read the portal
    await t.ctx.deps.portals.setDisabled(t.portal.id, true, Date.now());

    expect((await post(t.ctx.app, sms('here0000000000000000000000000001'))).status).toBe(403);
    other.advance(AUTH_CACHE_MS);
    const there = await post(other.app, sms('there000000000000000000000000001'));
    expect(there.status).toBe(403);
    expect(there.body.error).toBe('portal_disabled');
    // The refused ones are kept as failed, so that Bitrix24 is told (it shows every SMS as sent until told otherwise).
    expect(await t.ctx.db('messages').orderBy('id').select('b24_message_id', 'state')).toEqual([
      { b24_message_id: 'before00000000000000000000000001', state: 'queued' },
      { b24_message_id: 'here0000000000000000000000000001', state: 'failed' },
      { b24_message_id: 'there000000000000000000000000001', state: 'failed' },
    ]);
  });

  it('an uninstall refuses the old application token at once in this process and within AUTH_CACHE_MS in another', async () => {
    const other = otherProcess();
    expect((await post(other.app, sms('before00000000000000000000000002'))).status).toBe(200);
    await t.ctx.deps.portals.markUninstalled(t.portal.id, true, Date.now());
    expect((await post(t.ctx.app, sms('here0000000000000000000000000002'))).status).toBe(401);
    other.advance(AUTH_CACHE_MS);
    expect((await post(other.app, sms('there000000000000000000000000002'))).status).toBe(401);
  });

  it('a message that reaches a process before it has seen an uninstall is refused as it is written: no row, no text, no token of its author', async () => {
    const other = otherProcess();
    expect((await post(other.app, sms('before00000000000000000000000003'))).status).toBe(200);
    await t.ctx.deps.portals.markUninstalled(t.portal.id, true, Date.now());
    // Within AUTH_CACHE_MS the other process still authenticates the portal from memory: the write itself refuses.
    const late = (id: string, to: string) =>
      post(other.app, smsForm({ portal: t.fp, code: 'smsgw_myshop', id, to, text: 'a late secret', auth: { access_token: 'late-author-token', user_id: '7' } }));
    for (const [id, to] of [['late0000000000000000000000000001', '+79991234567'], ['late0000000000000000000000000002', '12']] as const) {
      const res = await late(id, to); // a number to send, and one refused at intake (stored failed, with a report)
      expect(res.status).toBe(401);
      expect(res.body.message).toBe('the app is uninstalled from this portal');
    }
    // An author's token that arrives as the uninstall happens is not kept either.
    await other.deps.identities.rememberAuthor(t.portal.id, 8, 'another-late-token', 3600, Date.now());
    expect(await t.ctx.db('messages').select('b24_message_id', 'body', 'phone', 'message_to')).toEqual([
      { b24_message_id: 'before00000000000000000000000003', body: null, phone: null, message_to: '' },
    ]);
    expect(await t.ctx.db('author_tokens').select('user_id')).toEqual([]);
    expect(await t.ctx.db('status_reports').select('message_id')).toEqual([]);
  });

  it.runIf(onPostgres)('a message written while an uninstall is being committed waits for it and is then refused', async () => {
    const other = otherProcess();
    expect((await post(other.app, sms('before00000000000000000000000004'))).status).toBe(200);
    // An uninstall caught between its two writes: the portal marked, the erase not yet run, nothing committed.
    const trx = await t.ctx.db.transaction();
    try {
      const pid = (await trx.raw('select pg_backend_pid() as pid')).rows[0].pid as number;
      await trx('portals').where({ id: t.portal.id }).update({ status: 'uninstalled' });
      const answers = Promise.all([post(other.app, sms('late0000000000000000000000000003')), post(other.app, sms('late0000000000000000000000000004', '12'))]);
      // Both writes (the queued one's and the refused one's) wait for the uninstall instead of committing past it.
      await eventually(async () => {
        const r = await t.ctx.db.raw('select count(*)::int as n from pg_stat_activity where ? = any(pg_blocking_pids(pid))', [pid]);
        return r.rows[0].n === 2;
      }, 'both writes to wait for the uninstall', 10_000);
      await trx('messages').where({ portal_id: t.portal.id }).update({ body: null, phone: null, message_to: '' });
      await trx.commit();
      expect((await answers).map((a) => a.status)).toEqual([401, 401]);
    } finally {
      if (!trx.isCompleted()) await trx.rollback();
    }
    expect(await t.ctx.db('messages').select('b24_message_id', 'body')).toEqual([{ b24_message_id: 'before00000000000000000000000004', body: null }]);
  });

  it('a wrong application token is refused even while the portal is served from memory', async () => {
    expect((await post(t.ctx.app, sms('good0000000000000000000000000001'))).status).toBe(200);
    const forged = smsForm({ portal: { ...t.fp, applicationToken: `${t.fp.applicationToken.slice(0, -1)}x` }, code: 'smsgw_myshop', id: 'forged00000000000000000000000001' });
    const res = await post(t.ctx.app, forged);
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/application_token/);
    expect(await storedCount()).toBe(1);
  });
});

describe('bodies on their way at once', () => {
  it('past the budget, a new body is refused with 503 and Retry-After instead of held in memory; the budget comes back when the slow ones end', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const { intakeHandler } = await import('../src/messages/intake.http.js');
    const handler = intakeHandler({ intake: t.ctx.deps.intake, log: createLogger('silent'), headers: [], observe: () => {}, bodyBudgetBytes: 8_000 });
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const slow = () => {
      // A client that announces 100 kB and sends 5 kB of it, then nothing.
      const s = connect(port, '127.0.0.1');
      s.write(`POST ${handlerPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(5_000)}`);
      return s;
    };
    const hold = slow();
    try {
      await new Promise((r) => setTimeout(r, 200)); // its 5 kB are in
      const refused = await request(server).post(handlerPath).type('form').send(sms('c'.repeat(32)) + '&pad=' + 'p'.repeat(4_000));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toMatchObject({ error: 'busy' });
      expect(await storedCount()).toBe(0);
      hold.destroy();
      await eventually(async () => (await request(server).post(handlerPath).type('form').send(sms('d'.repeat(32)) + '&pad=' + 'p'.repeat(4_000))).status === 200, 'the budget to come back', 5_000);
    } finally {
      hold.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
