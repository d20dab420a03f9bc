import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakePortal } from './fakes/bitrix24.js';
import type { FakeSmsRu } from './fakes/smsru.js';
import { installedPortal } from './helpers/installed-portal.js';
import type { ListeningContext } from './helpers/server.js';
import { messageRow, postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';
import { RETIRED_IDLE_MS } from '../src/messages/retention.js';

/**
 * A portal's administrator moves it to another SMS.ru account (a new key) while messages of the earlier one still
 * wait for their fate. SMS.ru reports them with callbacks signed with the earlier key, to the URL registered on that
 * account, and answers status requests about them only when asked with that key.
 */
let smsru: FakeSmsRu;
let fp: FakePortal;
let ctx: ListeningContext;
let portal: Portal;
let close: () => Promise<void>;
let now: number;
beforeEach(async () => {
  now = Date.UTC(2026, 11, 2, 12);
  ({ fp, ctx, smsru, portal, close } = await installedPortal({
    listening: true, clock: () => now, random: () => 0.5, smsru: { keys: { 'key-a': 1000, 'key-b': 1000 } },
    install: { provider: 'smsru', api_key: 'key-a', sender: 'MyShop' },
  }));
});
afterEach(() => close());

async function sentWithKeyA(): Promise<string> {
  const id = await postSms(ctx, fp);
  await ctx.deps.worker.runOnce();
  expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
  expect([...smsru.messages.values()].map((m) => m.apiKey)).toEqual(['key-a']);
  return id;
}
const switchTo = (apiKey: string) => ctx.deps.settingsService.saveGateway(portal.id, 'smsru', { api_key: apiKey });

describe('after a switch to another SMS.ru account', () => {
  it('the earlier account\'s callback, signed with its key, settles its message, and a message the new account took is left to it', async () => {
    const id = await sentWithKeyA();
    await switchTo('key-b');
    const other = await postSms(ctx, fp, { to: '+79991234568' });
    await ctx.deps.worker.runOnce();
    expect(smsru.messages.size).toBe(2);
    const settled = smsru.settle();
    await smsru.postCallbacks(settled.filter((m) => m.apiKey === 'key-a'));
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
    expect(await messageRow(ctx, other)).toMatchObject({ state: 'sent' });
    // Account B's callback settles B's message.
    await smsru.postCallbacks(settled.filter((m) => m.apiKey === 'key-b'));
    expect(await messageRow(ctx, other)).toMatchObject({ state: 'delivered' });
  });

  it('a callback signed with no key the portal ever used is refused and changes nothing', async () => {
    const id = await sentWithKeyA();
    await switchTo('key-b');
    const settled = smsru.settle();
    await smsru.postCallbacks(settled, { forgeHash: true });
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'sent' });
  });

  it('the statuses job asks the earlier account about its messages, with its key', async () => {
    const id = await sentWithKeyA();
    await switchTo('key-b');
    smsru.settle(); // delivered; the callback is lost
    now += 60_000;
    await ctx.deps.statusesJob.runOnce();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });

  it('the earlier account\'s key is kept for STATUS_MAX_AGE only, and is forgotten with the settings on an uninstall that cleans up', async () => {
    await sentWithKeyA();
    await switchTo('key-b');
    expect((await ctx.deps.settings.retired(portal.id)).map((r) => r.credentials.api_key)).toEqual(['key-a']);
    // Switching back makes it the current account again: nothing of it is kept as retired, key B (its message waits) is.
    await postSms(ctx, fp, { to: '+79991234568' });
    await ctx.deps.worker.runOnce();
    await switchTo('key-a');
    expect((await ctx.deps.settings.retired(portal.id)).map((r) => r.credentials.api_key)).toEqual(['key-b']);
    now += ctx.config.STATUS_MAX_AGE + 1;
    await ctx.deps.retention.prunePartIds();
    expect(await ctx.deps.settings.retired(portal.id)).toEqual([]);
    await switchTo('key-b');
    expect(await ctx.db('retired_accounts').where({ portal_id: portal.id }).count({ n: '*' })).toMatchObject([{ n: 1 }]);
    await ctx.deps.portals.markUninstalled(portal.id, true, now);
    expect(await ctx.db('retired_accounts').where({ portal_id: portal.id }).count({ n: '*' })).toMatchObject([{ n: 0 }]);
  });

  it('a message another process sent on the earlier account just after the switch (its account still cached) is settled by that account\'s callback', async () => {
    await ctx.deps.accounts.forPortal(portal.id); // this process has key A cached; nothing of A waits
    await ctx.deps.settings.save(portal.id, { gateway: 'smsru', credentials: { api_key: 'key-b' } }, now); // saved by another process
    const id = await postSms(ctx, fp);
    await ctx.deps.worker.runOnce();
    expect([...smsru.messages.values()].map((m) => m.apiKey)).toEqual(['key-a']);
    await smsru.postCallbacks(smsru.settle());
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'delivered' });
  });

  it('an earlier account is erased an hour after the switch once nothing of it waits, and a gateway that needs no credentials for that is never kept', async () => {
    await switchTo('key-b'); // key A took nothing
    expect((await ctx.deps.settings.retired(portal.id)).map((r) => r.credentials.api_key)).toEqual(['key-a']);
    now += RETIRED_IDLE_MS;
    await ctx.deps.retention.prunePartIds();
    expect(await ctx.deps.settings.retired(portal.id)).toHaveLength(1);
    now += 1;
    await ctx.deps.retention.prunePartIds();
    expect(await ctx.deps.settings.retired(portal.id)).toEqual([]);
    // A Kannel's DLRs carry each message's own secret, and its password settles nothing: it is not kept.
    const kannel = { url: 'http://kannel.example.test:13013', username: 'shop', password: 'secret' };
    await ctx.deps.settings.save(portal.id, { gateway: 'kannel', credentials: kannel }, now);
    const id = await postSms(ctx, fp);
    await ctx.db('messages').where({ b24_message_id: id }).update({ state: 'sent', gateway: 'kannel', gateway_account: 'k', gateway_message_id: null });
    await ctx.deps.settings.save(portal.id, { gateway: 'smsru', credentials: { api_key: 'key-a' } }, now);
    expect((await ctx.db('retired_accounts').where({ portal_id: portal.id }).orderBy('retired_at')).map((r) => r.gateway)).toEqual(['smsru']); // key B's, not the Kannel's
  });
});
