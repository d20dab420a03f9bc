import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { PUBLIC_URL, TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { installPortal, openAppPage, openInstallPage, stateFor } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { eventually } from './helpers/wait.js';
import { createLogger } from '../src/platform/logger.js';
import { startBackground } from '../src/runtime.js';
import { buildDeps } from '../src/deps.js';
import type { Portal } from '../src/portals/portal-repo.js';

const PASSWORD = 'operator-secret-1';
const EVENTS = [
  { event: 'ONAPPINSTALL', handler: `${PUBLIC_URL}/events` }, // bound by the install page; the check has no use for it after
  { event: 'ONAPPUNINSTALL', handler: `${PUBLIC_URL}/events` },
  { event: 'ONAPPUPDATE', handler: `${PUBLIC_URL}/events` },
];

let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let close: () => Promise<void>;
let lines: string[];

beforeEach(async () => {
  lines = [];
  const log = createLogger('info', { write: (s: string) => void lines.push(s) });
  ({ fake, fp, ctx, portal, close } = await installedPortal({ log, env: { ADMIN_PASSWORD: PASSWORD } }));
});
afterEach(() => close());

const post = (path: string, fields: Record<string, string>) => request(ctx.app).post(path).type('form').send(fields);

/** Adds a sender name on the app's settings page, as a portal administrator does. */
async function addSenderOnPage(target: FakePortal, name: string) {
  const page = (await openAppPage(ctx, fake, target)).text;
  const res = await post('/app/senders/add', { state: stateFor(page, '/app/senders/add'), sender_name: name });
  expect(res.status).toBe(200);
  return res.text;
}

/** A second portal of the same app, installed by its administrator with its own sender name. */
async function anotherPortal(sender: string) {
  const other = await fake.addPortal();
  const stored = await installPortal(ctx, fake, other, { provider: 'smsru', api_key: 'smsru-key-123', sender });
  return { fp: other, portal: stored };
}

const logged = (event: string) => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === event);
const sortedEvents = (p: FakePortal) => [...p.events].map(({ event, handler }) => ({ event, handler })).sort((a, b) => a.event.localeCompare(b.event));

describe('the periodic provider check', () => {
  it('after an app update deleted the providers and events, registers every stored sender again with its name and handler URL, binds the events, logs and counts it', async () => {
    await addSenderOnPage(fp, 'Promo');
    const before = new Map(fp.senders);
    expect([...before.keys()].sort()).toEqual(['smsgw_myshop', 'smsgw_promo']);
    // What Bitrix24 does on an app update (core restservice.php onRestAppUpdate); ONAPPUPDATE never reached us.
    fp.senders.clear();
    fp.events.splice(0);

    await ctx.deps.providerCheck.runOnce();

    expect([...fp.senders.keys()].sort()).toEqual(['smsgw_myshop', 'smsgw_promo']);
    for (const code of ['smsgw_myshop', 'smsgw_promo']) {
      expect(fp.senders.get(code)).toMatchObject({ TYPE: 'SMS', NAME: before.get(code)!.NAME, HANDLER: before.get(code)!.HANDLER });
    }
    expect(fp.senders.get('smsgw_promo')!.NAME).toBe('Promo');
    expect(fp.senders.get('smsgw_myshop')!.HANDLER).toMatch(new RegExp(`^${PUBLIC_URL}/handler\\?key=[\\w-]{20,}$`));
    expect(sortedEvents(fp)).toEqual(EVENTS.slice(1)); // the lifecycle ones: ONAPPINSTALL has come and gone

    expect(logged('provider.check.repaired')).toEqual([expect.objectContaining({ portalId: portal.id, providers: 2, events: 2 })]);
    const tokens = (await ctx.deps.portals.tokens(portal.id))!;
    for (const l of lines) expect(l).not.toContain(tokens.accessToken);
    const metrics = await ctx.deps.metrics.render();
    expect(metrics).toContain('b24_provider_repairs_total{what="provider"} 2');
    expect(metrics).toContain('b24_provider_repairs_total{what="event"} 2');
    expect(await ctx.deps.providerChecks.last(portal.id)).toMatchObject({ outcome: 'repaired', providersRepaired: 2, eventsRepaired: 2, error: null });

    // A portal with everything in place is only asked, not changed.
    const calls = fp.calls.length;
    await ctx.deps.providerCheck.runOnce();
    expect(fp.calls.slice(calls).map((c) => c.method)).toEqual(['messageservice.sender.list', 'event.get']);
    expect(await ctx.deps.providerChecks.last(portal.id)).toMatchObject({ outcome: 'ok', providersRepaired: 0, eventsRepaired: 0 });
  });

  it('gives back the one provider an administrator deleted by hand, and touches nothing else', async () => {
    await addSenderOnPage(fp, 'Promo');
    const handler = fp.senders.get('smsgw_promo')!.HANDLER;
    fp.senders.delete('smsgw_promo');
    const calls = fp.calls.length;

    await ctx.deps.providerCheck.runOnce();

    expect(fp.calls.slice(calls).map((c) => c.method)).toEqual(['messageservice.sender.list', 'messageservice.sender.add', 'event.get']);
    expect(fp.senders.get('smsgw_promo')).toMatchObject({ CODE: 'smsgw_promo', NAME: 'Promo', HANDLER: handler });
    expect(sortedEvents(fp)).toEqual(EVENTS);
    expect(await ctx.deps.providerChecks.last(portal.id)).toMatchObject({ outcome: 'repaired', providersRepaired: 1, eventsRepaired: 0 });
  });

  it('binds an event that was unbound, without registering anything', async () => {
    fp.events.splice(fp.events.findIndex((e) => e.event === 'ONAPPUNINSTALL'), 1);
    const calls = fp.calls.length;
    await ctx.deps.providerCheck.runOnce();
    expect(sortedEvents(fp)).toEqual(EVENTS);
    expect(fp.calls.slice(calls).map((c) => c.method)).toEqual(['messageservice.sender.list', 'event.get', 'event.bind']);
  });

  it('does not bring back a sender name the administrator removed on the settings page, nor register anything for a portal with no stored sender', async () => {
    const page = await addSenderOnPage(fp, 'Promo');
    await ctx.deps.providerCheck.runOnce(); // a check that saw Promo registered must not remember it
    const removed = await post('/app/senders/remove', { state: stateFor(page, '/app/senders/remove'), code: 'smsgw_promo' });
    expect(removed.status).toBe(200);
    // A portal whose install page was opened but never submitted: no sender is stored.
    const bare = await fake.addPortal();
    expect((await openInstallPage(ctx, fake, bare)).status).toBe(200);
    const barePortal = (await ctx.deps.portals.findByMemberId(bare.memberId))!;
    expect(await ctx.deps.settings.senders(barePortal.id)).toEqual([]);
    fp.senders.clear(); // an app update

    await ctx.deps.providerCheck.runOnce();

    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    expect(bare.senders.size).toBe(0);
    expect(bare.calls.filter((c) => c.method === 'messageservice.sender.add')).toEqual([]);
    expect(await ctx.deps.providerChecks.last(barePortal.id)).toMatchObject({ providersRepaired: 0 });
  });

  it('never calls a portal that was uninstalled, went inactive or was disabled by the operator', async () => {
    const uninstalled = await anotherPortal('Gone');
    const inactive = await anotherPortal('Dead');
    const disabled = await anotherPortal('Paused');
    const now = Date.now();
    await ctx.deps.portals.markUninstalled(uninstalled.portal.id, false, now);
    await ctx.deps.portals.markInactive(inactive.portal.id, 'invalid_grant: Invalid grant', now);
    await ctx.deps.portals.setDisabled(disabled.portal.id, true, now);
    const quiet = [uninstalled, inactive, disabled];
    for (const q of quiet) q.fp.senders.clear();
    fp.senders.clear();
    const callsBefore = quiet.map((q) => q.fp.calls.length);

    await ctx.deps.providerCheck.runOnce();

    expect(quiet.map((q) => q.fp.calls.length)).toEqual(callsBefore);
    for (const q of quiet) {
      expect(q.fp.senders.size).toBe(0);
      expect(await ctx.deps.providerChecks.last(q.portal.id)).toBeUndefined();
    }
    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']); // the active one was checked
  });

  it('records a portal whose calls fail and goes on to the next one', async () => {
    const denied = await anotherPortal('Denied');
    const down = await anotherPortal('Down');
    const healthy = await anotherPortal('Healthy');
    // The installer is no longer an administrator: sender.list answers ACCESS_DENIED with the stored token.
    denied.fp.users.find((u) => u.id === 1)!.admin = false;
    // Bitrix24 answers 500 to every try (the REST client retries, then gives up).
    for (let i = 0; i < 10; i++) down.fp.failNext.push({ status: 500, body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal error' } });
    for (const p of [fp, denied.fp, down.fp, healthy.fp]) p.senders.clear();

    await ctx.deps.providerCheck.runOnce();

    expect([...fp.senders.keys()]).toEqual(['smsgw_myshop']);
    expect([...healthy.fp.senders.keys()]).toEqual(['smsgw_healthy']);
    expect(denied.fp.senders.size).toBe(0);
    expect(down.fp.senders.size).toBe(0);
    expect(await ctx.deps.providerChecks.last(denied.portal.id)).toMatchObject({ outcome: 'error', error: 'ACCESS_DENIED' });
    expect(await ctx.deps.providerChecks.last(down.portal.id)).toMatchObject({ outcome: 'error', error: 'INTERNAL_SERVER_ERROR' });
    expect(await ctx.deps.providerChecks.last(healthy.portal.id)).toMatchObject({ outcome: 'repaired', providersRepaired: 1 });
    // Not a reason to give up on the portal: an administrator's visit or the next check may work.
    expect((await ctx.deps.portals.findById(denied.portal.id))!.status).toBe('active');
    expect(logged('provider.check.failed').map((l) => [l.portalId, l.error])).toEqual([
      [denied.portal.id, 'ACCESS_DENIED'],
      [down.portal.id, 'INTERNAL_SERVER_ERROR'],
    ]);
  });

  it('shows each portal\'s last check in the operator console: when, and what came of it', async () => {
    const denied = await anotherPortal('Denied');
    const login = await request(ctx.app).post('/admin/login').type('form').send({ password: PASSWORD });
    const cookie = String(login.headers['set-cookie']);
    const row = (html: string, domain: string) => html.slice(html.indexOf(`<td>${domain}</td>`)).split('</tr>')[0]!;
    const cell = (html: string, domain: string) => /<td class="provider-check">(.*?)<\/td>/.exec(row(html, domain))?.[1];

    const beforeAny = (await request(ctx.app).get('/admin').set('cookie', cookie)).text;
    expect(beforeAny).toContain('<th>provider check</th>');
    expect(cell(beforeAny, fp.domain)).toBe('—');

    fp.senders.clear();
    denied.fp.users.find((u) => u.id === 1)!.admin = false;
    await ctx.deps.providerCheck.runOnce();
    const checkedAt = (await ctx.deps.providerChecks.last(portal.id))!.checkedAt;
    const at = `${new Date(checkedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

    const page = (await request(ctx.app).get('/admin').set('cookie', cookie)).text;
    expect(cell(page, fp.domain)).toContain('repaired 1 provider, 0 events');
    expect(cell(page, fp.domain)).toContain(at);
    expect(cell(page, denied.fp.domain)).toContain('error ACCESS_DENIED');
    expect(cell(page, denied.fp.domain)).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  });

  it('with several worker processes on one database, each portal is checked by one of them per run', async () => {
    const second = await anotherPortal('Second');
    const other = buildDeps({ config: ctx.config, db: ctx.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY });
    for (const p of [fp, second.fp]) p.senders.clear();
    const calls = [fp, second.fp].map((p) => p.calls.length);

    await Promise.all([ctx.deps.providerCheck.runOnce(), other.providerCheck.runOnce()]);

    for (const [i, p] of [fp, second.fp].entries()) {
      expect(p.calls.slice(calls[i]).map((c) => c.method)).toEqual(['messageservice.sender.list', 'messageservice.sender.add', 'event.get']);
    }
    expect([...second.fp.senders.keys()]).toEqual(['smsgw_second']);
  });

  it('runs by itself in the background on PROVIDER_CHECK_CRON', async () => {
    const bg = await installedPortal({ env: { PROVIDER_CHECK_CRON: '* * * * * *' } }); // every second
    const stop = startBackground(bg.ctx.deps);
    try {
      bg.fp.senders.clear();
      bg.fp.events.splice(0);
      await eventually(() => bg.fp.senders.has('smsgw_myshop') && bg.fp.events.length === 2, 'the providers and events to come back', 10_000);
    } finally {
      await stop();
      await bg.close();
    }
  });
});
