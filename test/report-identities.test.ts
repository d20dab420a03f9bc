import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { TestContext } from './helpers/app.js';
import { openAppPage } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';

// messageservice.message.status.update is allowed to the message's author or an administrator (core
// RestService::updateMessageStatus). When the user who installed the app stops being an administrator, reports must
// still reach Bitrix24: through the latest administrator who opened the app's page, or the author's own token, or
// they wait, and the people who can fix it are told.

const PASSWORD = 'console-password-123';
let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let now = Date.now();

beforeEach(async () => {
  now = Date.now();
  ({ fake, fp, ctx, portal, close } = await installedPortal({ listening: true, clock: () => now, env: { ADMIN_PASSWORD: PASSWORD } }));
  fp.users.push({ id: 3, admin: true }, { id: 4, admin: false });
  fp.users.find((u) => u.id === 1)!.admin = false; // the installer is an administrator no more
});
afterEach(() => close());

/** An SMS by `authorId` to a number that cannot be parsed: failed at intake, its `failed` report due at once. */
function failedSms(authorId: number, accessToken = 'not-a-token-bitrix24-knows') {
  return postSms(ctx, fp, { to: 'no number', auth: { user_id: String(authorId), access_token: accessToken } });
}

const report = (id: string) => ctx.db('status_reports').where({ b24_message_id: id }).first();

async function consoleState() {
  const login = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
  const page = await request(ctx.app).get('/admin').set('cookie', String(login.headers['set-cookie']));
  return page.text;
}

describe('status reports when the installer is no administrator any more', () => {
  it('wait (never dropped), the page and the console say so, and go with the next administrator who opens the app', async () => {
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('sent'); // Bitrix24 refused the installer's token and the author's made-up one
    expect(await report(id)).toMatchObject({ outcome: 'pending', last_error: expect.stringMatching(/^ACCESS_DENIED/) });

    // Weeks later, past REPORT_MAX_AGE (14 days), it still waits, even when a try fails on the way: nothing is lost.
    now += 15 * 86_400_000;
    await ctx.db('status_reports').update({ next_attempt_at: now });
    fp.failNext.push(...Array.from({ length: 5 }, () => ({ status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'boom' } })));
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.failNext).toHaveLength(0);
    expect((await report(id)).outcome).toBe('pending');
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect((await report(id)).outcome).toBe('pending');

    // A non-administrator opening the app is told what to do; the console shows the portal as degraded.
    const seen = await openAppPage(ctx, fake, fp, { userId: 4 });
    expect(seen.text).toContain('Status reports are waiting');
    expect(seen.text).toContain('Open this page as a Bitrix24 administrator');
    expect(await consoleState()).toMatch(/degraded/);

    // An administrator opens the app: their pair is kept, the waiting reports go at once, with their token.
    const admin = await openAppPage(ctx, fake, fp, { userId: 3 });
    expect(admin.status).toBe(200);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
    expect(fp.statusUpdates.at(-1)).toMatchObject({ MESSAGE_ID: id, STATUS: 'failed', userId: 3 });
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).toBeNull();
    expect(await consoleState()).not.toMatch(/degraded/);

    // From then on the administrator's pair is the stored one: the next report goes at the first try.
    const next = await failedSms(2);
    const calls = fp.calls.length;
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(next)).toBe('failed');
    expect(fp.calls.slice(calls).filter((c) => c.method === 'batch')).toHaveLength(1);
  });

  it('an administrator who opened the app earlier is used as soon as the installer\'s token is refused', async () => {
    await openAppPage(ctx, fake, fp, { userId: 3 });
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
    expect(fp.statusUpdates.at(-1)).toMatchObject({ MESSAGE_ID: id, userId: 3 });
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).toBeNull();
  });

  it('the author\'s own token from the handler call reports their message; it is stored encrypted and erased once used', async () => {
    const { id } = await fake.dispatchSms(fp, { code: 'smsgw_myshop', to: 'no number', text: 'x', authorId: 2 });
    const [stored] = await ctx.db('author_tokens').where({ portal_id: portal.id, user_id: 2 });
    expect(stored).toBeDefined();
    const sent = fp.calls.length; // nothing of the author's token is readable in the database
    expect(JSON.stringify(stored)).not.toMatch(/[0-9a-f]{32}/);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
    expect(fp.statusUpdates.at(-1)).toMatchObject({ MESSAGE_ID: id, userId: 2 });
    expect(fp.calls.slice(sent).some((c) => c.userId === 2)).toBe(true);
    expect(await ctx.db('author_tokens').where({ portal_id: portal.id })).toHaveLength(0);
  });

  it('an author\'s token is never used for somebody else\'s message, nor after it expired; those reports wait', async () => {
    const { id: byAuthor4 } = await fake.dispatchSms(fp, { code: 'smsgw_myshop', to: 'no number', text: 'x', authorId: 4, withAuth: false });
    await fake.dispatchSms(fp, { code: 'smsgw_myshop', to: '+79990001122', text: 'queued, no report yet', authorId: 2 });
    const { id: late } = await fake.dispatchSms(fp, { code: 'smsgw_myshop', to: 'no number', text: 'x', authorId: 2 });
    now += 3600_000; // the author's token (an hour) is over
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(byAuthor4)).toBe('sent');
    expect(fp.shown.get(late)).toBe('sent');
    expect(fp.statusUpdates).toHaveLength(0);
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).not.toBeNull();
    // The expired token is erased by the reporter's next pass.
    expect(await ctx.db('author_tokens').where({ portal_id: portal.id })).toHaveLength(0);
  });
});

describe('status reports when the installer is deactivated in Bitrix24 (every call with their pair: authorization_error)', () => {
  beforeEach(() => {
    fp.users.find((u) => u.id === 1)!.active = false;
  });

  it('go with an administrator who opened the app, as for ACCESS_DENIED', async () => {
    await openAppPage(ctx, fake, fp, { userId: 3 });
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
    expect(fp.statusUpdates.at(-1)).toMatchObject({ MESSAGE_ID: id, userId: 3 });
    expect(await ctx.deps.portals.findById(portal.id)).toMatchObject({ status: 'active', reportsWaitingSince: null });
  });

  it('with no other identity they wait (never dropped), the portal says so, and go with the next administrator who opens the app', async () => {
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('sent');
    expect(await report(id)).toMatchObject({ outcome: 'pending', last_error: expect.stringMatching(/^ACCESS_DENIED/) });
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).not.toBeNull();
    now += 15 * 86_400_000; // past REPORT_MAX_AGE
    await ctx.db('status_reports').update({ next_attempt_at: now });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect((await report(id)).outcome).toBe('pending');

    await openAppPage(ctx, fake, fp, { userId: 3 });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).toBeNull();
  });
});

describe('a waiting report through failed tries', () => {
  it('stays waiting through two failed tries in a row past REPORT_MAX_AGE, and is delivered afterwards', async () => {
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(await report(id)).toMatchObject({ outcome: 'pending', last_error: expect.stringMatching(/^ACCESS_DENIED/) });
    now += 15 * 86_400_000;
    for (let i = 0; i < 2; i++) {
      fp.failNext.push(...Array.from({ length: 5 }, () => ({ status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'boom' } })));
      await ctx.db('status_reports').update({ next_attempt_at: now });
      await ctx.deps.reporter.runOnce({ flush: true });
      expect(fp.failNext).toHaveLength(0);
      expect(await report(id)).toMatchObject({ outcome: 'pending', last_error: expect.stringMatching(/^ACCESS_DENIED.*INTERNAL_SERVER_ERROR/) });
    }
    await openAppPage(ctx, fake, fp, { userId: 3 });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('failed');
  });
});

describe('an administrator\'s pair kept too long', () => {
  it('is not promoted once its refresh token may have died (27 days): the portal stays active and the reports wait', async () => {
    await openAppPage(ctx, fake, fp, { userId: 3 });
    now += 28 * 86_400_000;
    const id = await failedSms(2);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(id)).toBe('sent');
    expect((await ctx.deps.portals.findById(portal.id))?.status).toBe('active');
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).not.toBeNull();
  });
});

describe('the provider check when the installer is no administrator any more', () => {
  it('registers the missing provider with the latest administrator\'s pair', async () => {
    await openAppPage(ctx, fake, fp, { userId: 3 });
    fp.senders.clear();
    await ctx.deps.providerCheck.runOnce();
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(fp.calls.filter((c) => c.method === 'messageservice.sender.add').at(-1)?.userId).toBe(3);
  });
});

describe('authors\' tokens over time', () => {
  it('an author\'s token used up and erased is stored again when the author sends more with it', async () => {
    const token = fake.issueTokens(fp, 2).accessToken;
    const first = await failedSms(2, token);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(first)).toBe('failed');
    expect(await ctx.db('author_tokens').where({ portal_id: portal.id })).toHaveLength(0);
    now += 61_000; // the same token, a minute later (it lives an hour)
    const second = await failedSms(2, token);
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(second)).toBe('failed');
  });

  it('the portal stays degraded while any report waits, even when others went with an author\'s token', async () => {
    const withToken = await failedSms(2, fake.issueTokens(fp, 2).accessToken);
    const authorless = await postSms(ctx, fp, { to: 'no number', auth: false });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(withToken)).toBe('failed');
    expect(fp.shown.get(authorless)).toBe('sent');
    const third = await failedSms(2, fake.issueTokens(fp, 2).accessToken);
    await ctx.db('status_reports').update({ next_attempt_at: now + 3600_000 }).where({ b24_message_id: authorless });
    await ctx.deps.reporter.runOnce({ flush: true });
    expect(fp.shown.get(third)).toBe('failed');
    expect((await ctx.deps.portals.findById(portal.id))?.reportsWaitingSince).not.toBeNull();
  });
});
