import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { nextMessageId, type SmsBodyOptions } from './fakes/sms-body.js';
import type { TestContext } from './helpers/app.js';
import { installedPortal } from './helpers/installed-portal.js';
import { messageRow, postHandler, postSms } from './helpers/sms.js';
import type { Portal } from '../src/portals/portal-repo.js';
import type { FakeSmsRu } from './fakes/smsru.js';

// Bitrix24 marks an SMS "sent" as it hands it to its queue and never reads the handler's answer (core
// sender/sms/rest.php), so every authenticated message we will not send must reach the CRM card as "failed".

let fake: FakeBitrix24;
let fp: FakePortal;
let ctx: TestContext;
let portal: Portal;
let smsru: FakeSmsRu;
let close: () => Promise<void>;

beforeEach(async () => {
  ({ fake, fp, ctx, portal, smsru, close } = await installedPortal());
});
afterEach(() => close());

/** Bitrix24 creates the message, then its queue posts it to our handler (with the key of the provider's URL). */
async function dispatch(fields: SmsBodyOptions['fields'], auth?: Record<string, string>) {
  const sender = [...fp.senders.values()][0]!;
  const id = nextMessageId();
  fp.messages.set(id, { code: sender.CODE, authorId: 1 });
  fp.shown.set(id, 'sent');
  const res = await postHandler(ctx, { portal: fp, code: sender.CODE, id, fields, auth }, `/handler${new URL(sender.HANDLER).search}`);
  return { id, res };
}

/** Runs the worker and the reporter until nothing is left, as the background process would. */
async function settle() {
  while ((await ctx.deps.worker.runOnce()) > 0);
  await ctx.deps.reporter.runOnce({ flush: true });
}

describe('a message we will not send is shown as failed in Bitrix24', () => {
  it.each([
    ['an empty message_to', { message_to: '' }, 'message_to is required'],
    ['no message_to at all', { message_to: undefined }, 'message_to is required'],
    ['an empty message_body', { message_body: '' }, 'message_body is required'],
    ['a message_body of spaces only', { message_body: '   ' }, 'message_body is required'],
  ])('%s: answered 400 naming the field, stored failed, reported failed', async (_, fields, message) => {
    const { id, res } = await dispatch(fields);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(message);
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: `not sent: ${message}`, body: null });
    await settle();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('a portal the operator disabled: 403, and the CRM card shows failed', async () => {
    await ctx.deps.portals.setDisabled(portal.id, true, Date.now());
    const { id, res } = await dispatch({});
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('portal_disabled');
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'the service operator has disabled this portal' });
    await settle();
    expect(fp.shown.get(id)).toBe('failed');
    expect(smsru.stats.sendRequests).toBe(0);
  });

  it('a portal without a configured gateway: failed, and reported so', async () => {
    await ctx.db('settings').where({ portal_id: portal.id }).delete();
    const id = await postSms(ctx, fp);
    await settle();
    expect(await messageRow(ctx, id)).toMatchObject({ state: 'failed', failure_reason: 'no SMS gateway is configured for this portal' });
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('a number that cannot be parsed: failed at once, and reported so', async () => {
    const id = await postSms(ctx, fp, { to: 'call me maybe' });
    await settle();
    expect(fp.shown.get(id)).toBe('failed');
  });

  it('a text over the gateway\'s limit (SMS.ru: 8 parts) is failed without a request to the gateway, and reported so', async () => {
    const fits = await postSms(ctx, fp, { to: '+79990000001', text: 'a'.repeat(8 * 153) });
    const over = await postSms(ctx, fp, { to: '+79990000002', text: 'a'.repeat(8 * 153 + 1) });
    await settle();
    expect(await messageRow(ctx, over)).toMatchObject({ state: 'failed', failure_reason: 'text too long for this gateway: 9 parts, at most 8' });
    expect(fp.shown.get(over)).toBe('failed');
    expect((await messageRow(ctx, fits)).state).toBe('sent');
    expect(smsru.stats.sendRequests).toBe(1);
  });

  it('a text no SMS can carry (over 255 parts): failed at once, and reported so', async () => {
    const id = await postSms(ctx, fp, { text: 'ж'.repeat(255 * 67 + 1) });
    await settle();
    expect(fp.shown.get(id)).toBe('failed');
  });
});

describe('what is not authenticated or has no message id changes nothing and reports nothing', () => {
  it('a wrong application_token with an empty text: 401, nothing stored, nothing reported', async () => {
    const { id, res } = await dispatch({ message_body: '' }, { application_token: 'forged-token' });
    expect(res.status).toBe(401);
    await settle();
    expect(await messageRow(ctx, id)).toBeUndefined();
    expect(fp.shown.get(id)).toBe('sent');
    expect(fp.calls.filter((c) => c.method === 'batch' || c.method === 'messageservice.message.status.update')).toHaveLength(0);
  });

  it('no message_id: 400, nothing stored', async () => {
    const { res } = await dispatch({ message_id: undefined, message_body: '' });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('message_id is required');
    expect(await ctx.db('messages').count({ n: '*' })).toEqual([{ n: expect.anything() }]);
    expect(Number((await ctx.db('messages').count({ n: '*' }))[0]!.n)).toBe(0);
  });

  it('a message refused once and sent again with the same id is not stored twice', async () => {
    const { id } = await dispatch({ message_body: '' });
    const again = await postHandler(ctx, { portal: fp, code: 'smsgw_myshop', id, fields: { message_body: '' } }, `/handler${new URL([...fp.senders.values()][0]!.HANDLER).search}`);
    expect(again.status).toBe(400);
    expect(await ctx.db('messages').where({ b24_message_id: id })).toHaveLength(1);
    void fake;
  });
});
