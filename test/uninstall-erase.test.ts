import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakePortal } from './fakes/bitrix24.js';
import { installPortal } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { postSms } from './helpers/sms.js';

/**
 * An uninstall with CLEAN erases what was written to whom: with a long history that takes a while, and it must
 * neither hold other portals' SMS meanwhile nor be lost when its process dies halfway.
 */
const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
let t: InstalledPortal;
let b: FakePortal;
beforeEach(async () => {
  t = await installedPortal({ env: { WORKER_ENABLED: '0' } });
  b = await t.fake.addPortal();
  await installPortal(t.ctx, t.fake, b);
});
afterEach(() => t.close());

/** `n` delivered messages of the portal's history, written straight to the database. */
async function history(portalId: number, n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({
    portal_id: portalId, b24_message_id: `hist${i}`, code: 'smsgw_myshop', message_to: '+79991234567', phone: '+79991234567',
    body: 'some text', state: 'delivered', next_attempt_at: 0, created_at: 0, updated_at: 0,
  }));
  for (let i = 0; i < rows.length; i += 500) await t.ctx.db('messages').insert(rows.slice(i, i + 500));
}

const erasedOf = async (portalId: number) => {
  const rows = await t.ctx.db('messages').where({ portal_id: portalId }).select('body', 'phone', 'message_to');
  return { rows: rows.length, kept: rows.filter((r) => r.body !== null || r.phone !== null || r.message_to !== '').length };
};

describe('an uninstall with CLEAN', () => {
  it.runIf(onPostgres)('erasing a long history does not hold another portal\'s SMS: it is stored while the erase goes on', async () => {
    await history(t.portal.id, 60_000);
    let uninstalledAt = 0;
    const uninstall = t.ctx.deps.portals.markUninstalled(t.portal.id, true, Date.now()).then(() => (uninstalledAt = performance.now()));
    // One of the portal's own SMS arrives meanwhile (its write waits for the uninstall's lock on the portal's row),
    // then another portal's, which the same writer stores.
    await new Promise((r) => setTimeout(r, 50));
    const own = postSms(t.ctx, t.fp).catch((err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 20));
    await postSms(t.ctx, b);
    const bStoredAt = performance.now();
    await uninstall;
    expect(bStoredAt).toBeLessThan(uninstalledAt); // stored while the erase went on, not after it
    expect(await own).toMatch(/handler answered 401|^[0-9a-f]+$/); // refused, or stored just before and erased
    expect((await erasedOf(t.portal.id)).kept).toBe(0);
  }, 120_000);

  it('while a message is at its gateway: the answer that comes after the erase (with its reason) is erased too, by the retention job, once the message is final', async () => {
    await t.close();
    t = await installedPortal({ env: { WORKER_ENABLED: '0' } }); // its sends go to SMS.ru
    t.smsru.invalid.add('79990000123'); // SMS.ru will refuse the number, with a reason
    const id = await postSms(t.ctx, t.fp, { to: '+79990000123' });
    t.smsru.setMode('hang');
    const before = t.smsru.stats.sendRequests;
    const sending = t.ctx.deps.worker.runOnce();
    for (let i = 0; i < 500 && t.smsru.stats.sendRequests === before; i++) await new Promise((r) => setTimeout(r, 5));
    await t.ctx.deps.portals.markUninstalled(t.portal.id, true, Date.now());
    const row = () => t.ctx.db('messages').where({ b24_message_id: id }).first();
    expect(await row()).toMatchObject({ state: 'sending', phone: null, failure_reason: null });
    expect((await t.ctx.db('portals').where({ id: t.portal.id }).first()).erase_through).not.toBeNull(); // not final yet
    t.smsru.releaseHung();
    await sending;
    expect(await row()).toMatchObject({ state: 'failed', failure_reason: expect.any(String) }); // written after the erase
    await t.ctx.deps.retention.runOnce();
    expect(await row()).toMatchObject({ state: 'failed', failure_reason: null, gateway_status_text: null, phone: null });
    expect((await t.ctx.db('portals').where({ id: t.portal.id }).first()).erase_through).toBeNull();
  }, 60_000);

  it('cut short by a process that died is finished by the retention job; a reinstall\'s new messages are kept', async () => {
    await history(t.portal.id, 3_000);
    // The uninstall committed (status, credentials, the mark) and its process died before the erase.
    const last = (await t.ctx.db('messages').where({ portal_id: t.portal.id }).max('id as last').first())!.last;
    await t.ctx.db('portals').where({ id: t.portal.id }).update({ status: 'uninstalled', erase_through: last });
    // The administrator installs the app again and sends an SMS.
    await installPortal(t.ctx, t.fake, t.fp);
    const fresh = await postSms(t.ctx, t.fp);
    await t.ctx.deps.retention.runOnce();
    expect(await erasedOf(t.portal.id)).toEqual({ rows: 3_001, kept: 1 });
    expect(await t.ctx.db('messages').where({ portal_id: t.portal.id, b24_message_id: fresh }).first()).toMatchObject({ body: expect.any(String) });
    expect((await t.ctx.db('portals').where({ id: t.portal.id }).first()).erase_through).toBeNull();
  }, 60_000);
});
