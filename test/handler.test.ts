import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { smsForm, type SmsBodyOptions } from './fakes/sms-body.js';
import type { TestContext } from './helpers/app.js';
import { installPortal } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postHandler } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';

let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let handlerPath: string;

/**
 * The body Bitrix24 posts for an SMS from a CRM card (reference §2), with the reference example's message_id and ts;
 * the message is created in the portal first, as Bitrix24 does (status.update finds no other).
 */
const crmSms = (over: SmsBodyOptions = {}) => {
  fp.messages.set(over.id ?? 'e35864edce3eaad987d32f8955c1177b', { code: 'smsgw_myshop', authorId: 1 });
  return smsForm({
    portal: fp, code: 'smsgw_myshop', id: 'e35864edce3eaad987d32f8955c1177b', to: '+7 (999) 123-45-67', text: 'Hello', ts: 1513177809,
    bindings: [{ OWNER_TYPE_ID: '3', OWNER_ID: '5783' }], ...over, auth: over.auth === false ? false : { access_token: 'short-lived', ...over.auth },
  });
};

const post = (body: string, path = '/handler') => postHandler(ctx, body, path);
const rows = () => ctx.db('messages').select();

beforeEach(async () => {
  ({ fake, fp, ctx, portal, close } = await installedPortal());
  handlerPath = new URL(fp.senders.get('smsgw_myshop')!.HANDLER).pathname + new URL(fp.senders.get('smsgw_myshop')!.HANDLER).search;
});
afterEach(() => close());

describe('POST /handler', () => {
  it('stores one queued message with the number in E.164 and answers 200', async () => {
    const res = await post(crmSms(), handlerPath);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'queued' });
    const all = await rows();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      portal_id: portal.id, b24_message_id: 'e35864edce3eaad987d32f8955c1177b', code: 'smsgw_myshop',
      module_id: 'crm', message_to: '+7 (999) 123-45-67', phone: '+79991234567', body: 'Hello', state: 'queued',
    });
    expect(JSON.parse(all[0].origin)).toEqual({ bindings: [{ OWNER_TYPE_ID: '3', OWNER_ID: '5783' }] });
  });

  it("keeps a message's origin up to 4 KB of it, takes the message without a larger one, and fails none for it", async () => {
    const huge = 'x'.repeat(500_000); // the 1 MB body allows it; a megabyte in each stored row of a shared database does not
    const many = Array.from({ length: 20 }, (_, i) => ({ OWNER_TYPE_ID: '3', OWNER_ID: String(1e15 + i) })); // ~1 KB: kept
    expect((await post(crmSms({ id: 'big0rigin0000000000000000000001', bindings: [{ OWNER_TYPE_ID: '3', OWNER_ID: huge }] }), handlerPath)).body).toEqual({ status: 'queued' });
    expect((await post(crmSms({ id: 'many0rigin000000000000000000001', bindings: many }), handlerPath)).body).toEqual({ status: 'queued' });
    const bad = await post(crmSms({ id: 'badbig00000000000000000000000001', to: 'not a number', bindings: [{ OWNER_TYPE_ID: '3', OWNER_ID: huge }] }), handlerPath);
    expect(bad.body).toEqual({ status: 'failed' }); // refused, and stored as failed without it too
    const byId = Object.fromEntries((await rows()).map((r) => [r.b24_message_id, r]));
    expect(byId['big0rigin0000000000000000000001']).toMatchObject({ state: 'queued', origin: null, body: 'Hello' });
    expect(JSON.parse(byId['many0rigin000000000000000000001'].origin)).toEqual({ bindings: many });
    expect(byId['badbig00000000000000000000000001']).toMatchObject({ state: 'failed', origin: null });
  });

  it('answers a NUL character with a clear 400 and an author id past 32 bits as no author, without failing the messages written with them', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `fine${String(i).padStart(28, '0')}`);
    const odd = {
      bigAuthor: crmSms({ id: 'big00000000000000000000000000001', auth: { user_id: '3000000000' } }),
      nulBody: crmSms({ id: 'nulbody0000000000000000000000001', fields: { message_body: 'Hel\u0000lo' } }),
      nulTo: crmSms({ id: 'nulto000000000000000000000000001', fields: { message_to: '+7999\u00001234567' } }),
      nulPortal: crmSms({ id: 'nulportal00000000000000000000001', auth: { member_id: `${fp.memberId}\u0000` } }),
    };
    // All at once, so that on PostgreSQL they share group commits with the ordinary messages.
    const [fine, big, nulBody, nulTo, nulPortal] = await Promise.all([
      Promise.all(ids.map((id) => post(crmSms({ id })))), post(odd.bigAuthor), post(odd.nulBody), post(odd.nulTo), post(odd.nulPortal),
    ]);
    expect(fine.map((r) => r.status)).toEqual(ids.map(() => 200));
    expect(big.status).toBe(200);
    expect(nulBody.status).toBe(400);
    expect(nulBody.body).toMatchObject({ error: 'invalid_request', message: 'message_body contains a NUL character', field: 'message_body' });
    expect(nulTo.status).toBe(400);
    expect(nulTo.body.message).toBe('message_to contains a NUL character');
    expect(nulPortal.status).toBe(401);
    const stored = new Map((await rows()).map((r) => [r.b24_message_id, r]));
    expect(ids.every((id) => stored.get(id)?.state === 'queued')).toBe(true);
    expect(stored.get('big00000000000000000000000000001')).toMatchObject({ state: 'queued', author_id: null });
    // The refused ones are failed with their reason, so Bitrix24 is told; nothing of the unknown portal's is kept.
    expect(stored.get('nulbody0000000000000000000000001')).toMatchObject({ state: 'failed', failure_reason: 'not sent: message_body contains a NUL character' });
    expect(stored.get('nulto000000000000000000000000001')).toMatchObject({ state: 'failed', message_to: '+79991234567' });
    expect(stored.has('nulportal00000000000000000000001')).toBe(false);
    expect(stored.size).toBe(ids.length + 3);
  });

  it('creates nothing when the same message_id arrives twice', async () => {
    expect((await post(crmSms(), handlerPath)).status).toBe(200);
    const again = await post(crmSms(), handlerPath);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate' });
    expect(await rows()).toHaveLength(1);
  });

  it('refuses a wrong application_token with 401, even when the handler key is right', async () => {
    for (const path of ['/handler', handlerPath]) {
      const res = await post(crmSms({ auth: { application_token: 'f'.repeat(32) } }), path);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('unauthorized');
    }
    expect(await rows()).toHaveLength(0);
  });

  it('refuses an unknown portal, a missing auth and a wrong handler key', async () => {
    expect((await post(crmSms({ auth: { member_id: 'not-a-portal' } }))).status).toBe(401);
    const noAuth = crmSms({ auth: false });
    expect((await post(noAuth, '/handler')).status).toBe(401);
    expect((await post(noAuth, '/handler?key=wrong')).status).toBe(401);
    expect(await rows()).toHaveLength(0);
  });

  it('accepts an author-less message by the per-portal key in the handler URL', async () => {
    const noAuth = crmSms({ auth: false });
    const res = await post(noAuth, handlerPath);
    expect(res.status).toBe(200);
    expect(await rows()).toHaveLength(1);
  });

  it.each(['message_id', 'message_to', 'message_body'])('answers 400 naming %s when it is missing or empty', async (field) => {
    const missing = await post(crmSms({ fields: { [field]: undefined } }), handlerPath);
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: 'invalid_request', field, message: `${field} is required` });
    const empty = await post(crmSms({ fields: { [field]: '  ' } }), handlerPath);
    expect(empty.status).toBe(400);
    expect(empty.body.field).toBe(field);
    // With a message_id, the refusal is kept as a failed message so that Bitrix24 is told (test/unsent-reported.test.ts).
    expect(await rows()).toMatchObject(field === 'message_id' ? [] : [{ state: 'failed', failure_reason: `not sent: ${field} is required` }]);
  });

  it('accepts a business-process payload (module_id=bizproc, document_id[…])', async () => {
    // workflow_id 59ce38567ff2a5.26351167, document_id crm / CCrmDocumentLead / LEAD_98, document_type … / LEAD
    const res = await post(crmSms({ from: 'bizproc', id: 'a'.repeat(32), to: '89991234567' }), handlerPath);
    expect(res.status).toBe(200);
    const [m] = await rows();
    expect(m).toMatchObject({ module_id: 'bizproc', phone: '+79991234567', state: 'queued' });
    expect(JSON.parse(m.origin)).toMatchObject({ workflow_id: '59ce38567ff2a5.26351167', document_id: ['crm', 'CCrmDocumentLead', 'LEAD_98'] });
  });

  it('accepts a body copied byte for byte from the reference example', async () => {
    // The example's portal: install it under the example's member_id and application_token.
    const example = readFileSync(new URL('./fixtures/handler-crm.txt', import.meta.url), 'utf8').trim().split('\n');
    const field = (k: string) => example.find((l) => l.startsWith(`${k}=`))!.slice(k.length + 1);
    const ref = await fake.addPortal({ memberId: field('auth[member_id]') });
    ref.applicationToken = field('auth[application_token]');
    await installPortal(ctx, fake, ref);
    // PHP's http_build_query encoding, as Bitrix24 sends it.
    const body = example.map((l) => { const i = l.indexOf('='); return `${encodeURIComponent(l.slice(0, i))}=${encodeURIComponent(l.slice(i + 1))}`; }).join('&');
    const res = await post(body);
    expect(res.status).toBe(200);
    const m = await ctx.deps.messages.byB24Id((await ctx.deps.portals.findByMemberId(ref.memberId!))!.id, 'e35864edce3eaad987d32f8955c1177b');
    expect(m).toMatchObject({ phone: '+79172012345', body: 'тест', code: 'fastsms', state: 'queued' });
  });

  it('keeps a number that cannot be parsed, marked failed with the reason', async () => {
    const res = await post(crmSms({ to: '12' }), handlerPath);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'failed' });
    const [m] = await rows();
    expect(m.state).toBe('failed');
    expect(m.phone).toBeNull();
    expect(m.failure_reason).toMatch(/^invalid phone number/);
  });

  it('fails a text no SMS can carry at once (40,000 characters), reports it, and never hands it to the worker', async () => {
    const res = await post(crmSms({ text: 'ж'.repeat(40_000), id: 'a'.repeat(32) }), handlerPath);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'failed' });
    const [m] = await rows();
    expect(m).toMatchObject({ state: 'failed', body: null, failure_reason: expect.stringMatching(/^text too long/) });
    expect(await ctx.deps.worker.runOnce()).toBe(0);
    expect((await request(ctx.app).get('/healthz')).status).toBe(200);
    await ctx.deps.reporter.runOnce();
    expect(fp.statusUpdates).toEqual([{ CODE: 'smsgw_myshop', MESSAGE_ID: 'a'.repeat(32), STATUS: 'failed', userId: 1 }]);
  });

  it('queues a text of exactly 255 parts and fails one character more', async () => {
    const fits = await post(crmSms({ text: 'a'.repeat(255 * 153), id: 'b'.repeat(32) }), handlerPath);
    const over = await post(crmSms({ text: 'a'.repeat(255 * 153 + 1), id: 'c'.repeat(32) }), handlerPath);
    expect([fits.body, over.body]).toEqual([{ status: 'queued' }, { status: 'failed' }]);
  });

  it('answers 415 to a body that is not a form and 413 to one over 1 MB', async () => {
    const json = await request(ctx.app).post(handlerPath).set('content-type', 'application/json').send('{"message_id":"x"}');
    expect(json.status).toBe(415);
    expect(json.body.error).toBe('unsupported_media_type');
    const big = await post(crmSms({ text: 'x'.repeat(1_100_000) }), handlerPath);
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('payload_too_large');
    expect(await rows()).toHaveLength(0);
  });

  it('refuses messages for a portal that uninstalled the app', async () => {
    await ctx.deps.portals.markUninstalled(portal.id, false, Date.now());
    expect((await post(crmSms(), handlerPath)).status).toBe(401);
    expect(await rows()).toHaveLength(0);
  });

  it('keeps two portals apart: each portal\'s token only opens its own handler', async () => {
    const other = await fake.addPortal();
    await installPortal(ctx, fake, other);
    const otherKeyPath = new URL(other.senders.get('smsgw_myshop')!.HANDLER).search;
    expect((await post(crmSms(), `/handler${otherKeyPath}`)).status).toBe(401);
    expect((await post(crmSms({ portal: other }), `/handler${otherKeyPath}`)).status).toBe(200);
    expect(await rows()).toHaveLength(1);
  });
});
