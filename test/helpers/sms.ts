import request from 'supertest';
import type { FakePortal } from '../fakes/bitrix24.js';
import type { TestContext } from './app.js';

let seq = 0;

/** Posts an SMS to /handler as Bitrix24 would for the portal's first provider; returns its Bitrix24 message id. */
export async function postSms(ctx: TestContext, fp: FakePortal, m: { to?: string; text?: string; id?: string } = {}) {
  const [sender] = [...fp.senders.values()];
  const url = new URL(sender!.HANDLER);
  const id = m.id ?? `msg${String(++seq).padStart(29, '0')}`;
  const res = await request(ctx.app).post(`/handler${url.search}`).type('form').send({
    module_id: 'crm', type: 'SMS', code: sender!.CODE, message_id: id, message_to: m.to ?? '+79991234567', message_body: m.text ?? 'Hello',
    'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken,
  });
  if (res.status !== 200) throw new Error(`handler answered ${res.status}: ${res.text}`);
  fp.shown.set(id, 'sent');
  return id;
}

export const messageRow = (ctx: TestContext, b24MessageId: string) => ctx.db('messages').where({ b24_message_id: b24MessageId }).first();
