import request from 'supertest';
import type { FakePortal } from '../fakes/bitrix24.js';
import { smsForm, type SmsBodyOptions } from '../fakes/sms-body.js';
import type { TestContext } from './app.js';

/** POSTs an SMS body (../fakes/sms-body.ts, or a raw form string) to the handler at `path`; the raw answer. */
export function postHandler(ctx: Pick<TestContext, 'app'>, body: SmsBodyOptions | string, path = '/handler') {
  return request(ctx.app).post(path).type('form').send(typeof body === 'string' ? body : smsForm(body));
}

/**
 * Posts an SMS to /handler as Bitrix24 would for the portal's first provider (its HANDLER URL, key included, and the
 * portal's auth block); returns its Bitrix24 message id, and fails unless the handler answered 200.
 */
export async function postSms(ctx: Pick<TestContext, 'app'>, fp: FakePortal, m: SmsBodyOptions = {}) {
  const [sender] = [...fp.senders.values()];
  if (!sender) throw new Error('the portal has no provider registered');
  const body = smsForm({ portal: fp, code: sender.CODE, ...m });
  const id = new URLSearchParams(body).get('message_id')!;
  // Bitrix24 creates the message before its queue calls the handler; status.update finds only such messages.
  fp.messages.set(id, { code: sender.CODE, authorId: Number((m.auth && m.auth.user_id) ?? 1) });
  const res = await postHandler(ctx, body, `/handler${new URL(sender.HANDLER).search}`);
  if (res.status !== 200) throw new Error(`handler answered ${res.status}: ${res.text}`);
  fp.shown.set(id, 'sent');
  return id;
}

export const messageRow = (ctx: Pick<TestContext, 'db'>, b24MessageId: string) => ctx.db('messages').where({ b24_message_id: b24MessageId }).first();
