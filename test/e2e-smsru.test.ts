import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import { installedPortal } from './helpers/installed-portal.js';
import type { ListeningContext } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

let fake: FakeBitrix24;
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: ListeningContext;
let close: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ fake, fp, ctx, smsru, close } = await installedPortal({
    listening: true, smsru: { keys: { 'e2e-key': 1000 } }, env: { REPORT_LINGER: '300ms' }, install: { provider: 'smsru', api_key: 'e2e-key', sender: 'MyShop' },
  }));
  ctx.deps.worker.start();
  ctx.deps.reporter.start();
});
afterAll(async () => {
  await close?.();
});

describe('end to end through SMS.ru', () => {
  it('delivered, undelivered, rejected and unparseable numbers all end with the right status in Bitrix24', async () => {
    const phone = (i: number) => `+7999${String(5550000 + i)}`;
    for (let i = 40; i < 45; i++) smsru.invalid.add(phone(i).slice(1)); // SMS.ru: 202 wrong number
    for (let i = 45; i < 50; i++) smsru.undeliverable.add(phone(i).slice(1)); // operator: 107 not delivered
    const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => fake.dispatchSms(fp, { code: 'smsgw_myshop', to: phone(i), text: `Order ${i} is ready` })));
    const garbage = await Promise.all(['123', 'n/a'].map((to) => fake.dispatchSms(fp, { code: 'smsgw_myshop', to, text: 'x', withAuth: false })));
    // The handler's answers are read by nobody (as in Bitrix24): only the statuses shown below tell.

    await eventually(async () => (await ctx.db('messages').whereIn('state', ['queued', 'sending'])).length === 0, 'every message handed to SMS.ru');
    const settled = smsru.settle();
    // Half of the statuses come by callback; the statuses job polls the rest.
    await smsru.postCallbacks(settled.filter((_, i) => i % 2 === 0));
    await ctx.deps.statusesJob.runOnce();

    const expected = new Map<string, string>();
    sent.forEach((r, i) => expected.set(r.id, i < 40 ? 'delivered' : i < 45 ? 'failed' : 'undelivered'));
    garbage.forEach((r) => expected.set(r.id, 'failed'));
    await eventually(() => [...expected].every(([id, s]) => fp.shown.get(id) === s), 'Bitrix24 to show every final status');
    expect(smsru.messages.size).toBe(45); // each accepted message sent once; rejected numbers never got an id
    expect(fp.limitHits).toBe(0);
    const rejected = await ctx.db('messages').where({ gateway_status: '202' });
    expect(rejected).toHaveLength(5);
    expect(rejected[0].failure_reason).toBe('Неправильно указан номер телефона получателя');
  }, 60_000);
});
