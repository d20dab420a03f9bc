import { afterEach, beforeEach, expect, it } from 'vitest';
import request from 'supertest';
import { dlrToken } from '../src/delivery/dlr-url.js';
import { openAppPage, stateFor, statusState } from './helpers/install.js';
import { installedPortal, type InstalledPortal } from './helpers/installed-portal.js';
import { postSms } from './helpers/sms.js';

/**
 * Ids and dates from URLs and forms that are no row id or no day: answered as "no such …" or ignored as a filter,
 * on PostgreSQL as on SQLite (a NaN or a number beyond the column's range in a query failed it there: a 500, and an
 * error line any portal user could write).
 */
let t: InstalledPortal;
beforeEach(async () => {
  t = await installedPortal({ env: { ADMIN_PASSWORD: 'operator-secret-1' } });
});
afterEach(() => t.close());

const NOT_IDS = ['abc', '0', '-1', '1.5', '1e3', '99999999999999999999', '9007199254740993', '007'];

it('a message id that is no id is 404 on the app page, never a 500', async () => {
  const { ctx, fake, fp } = t;
  const page = (await openAppPage(ctx, fake, fp)).text;
  for (const id of [...NOT_IDS, '2147483648']) {
    const res = await request(ctx.app).post(`/app/messages/${id}`).type('form').send({ state: statusState(page) });
    expect([id, res.status]).toEqual([id, 404]);
    expect(res.text).toContain('no such message');
  }
});

it('a log filter by a day that does not exist is no filter, in the page and in the CSV export', async () => {
  const { ctx, fake, fp } = t;
  await postSms(ctx, fp, { id: 'm1', to: '+79991234567', text: 'Hello' });
  const page = (await openAppPage(ctx, fake, fp)).text;
  const state = stateFor(page, '/app/log');
  for (const day of ['2024-13-45', '2024-02-30', '2024-99-99', '0000-00-00']) {
    for (const field of ['from', 'to']) {
      const log = await request(ctx.app).post('/app/log').type('form').send({ state, [field]: day });
      expect([day, field, log.status]).toEqual([day, field, 200]);
      expect(log.text).toContain('••••4567'); // the message is listed: the bad day filtered nothing out
    }
  }
  // The export (five a minute per portal): a bad day as a filter exports everything, a response under way is never
  // answered twice.
  for (const [field, day] of [['from', '2024-99-99'], ['to', '2024-02-30']] as const) {
    const csv = await request(ctx.app).post('/app/log.csv').type('form').send({ state, [field]: day });
    expect([day, field, csv.status]).toEqual([day, field, 200]);
    expect(csv.text.split('\r\n').filter(Boolean)).toHaveLength(2); // the header and the message
  }
  // A real day still filters: nothing was sent in 2001.
  const old = await request(ctx.app).post('/app/log.csv').type('form').send({ state, to: '2001-01-01' });
  expect(old.text.split('\r\n').filter(Boolean)).toHaveLength(1);
});

it('a portal id that is no id is 404 in the operator console', async () => {
  const { ctx } = t;
  const login = await request(ctx.app).post('/admin/login').type('form').send({ password: 'operator-secret-1' });
  const cookie = String(login.headers['set-cookie']);
  const csrf = /name="csrf" value="([^"]+)"/.exec((await request(ctx.app).get('/admin').set('cookie', cookie)).text)![1]!;
  for (const id of NOT_IDS) {
    const res = await request(ctx.app).post(`/admin/portals/${id}/disable`).set('cookie', cookie).type('form').send({ csrf });
    expect([id, res.status]).toEqual([id, 404]);
  }
});

it("a Kannel report naming no message id is 404, and one naming no portal id is refused as forged", async () => {
  const { ctx, portal } = t;
  const token = dlrToken(ctx.deps.crypto, portal.id);
  for (const id of NOT_IDS) {
    const res = await request(ctx.app).get(`/dlr/kannel/${portal.id}/${token}/${id}`).query({ type: '1' });
    expect([id, res.status, res.body.error]).toEqual([id, 404, 'not_found']);
    const forged = await request(ctx.app).get(`/dlr/kannel/${id}/${token}/1`).query({ type: '1' });
    expect([id, forged.status]).toEqual([id, 401]);
  }
});
