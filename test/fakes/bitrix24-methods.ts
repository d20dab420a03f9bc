import qs from 'qs';
import type { Json } from './http-util.js';
import type { FakePortal, FakeUser } from './bitrix24.js';

type Out = { status: number; body: Json };
const ok = (result: unknown): Out => ({ status: 200, body: { result, time: { start: Date.now() / 1000 } } });
const fail = (status: number, error: string, description: string): Out => ({ status, body: { error, error_description: description } });
const denied = () => fail(403, 'ACCESS_DENIED', 'Access denied!');
const STATUSES = ['queued', 'sent', 'delivered', 'undelivered', 'failed'];

/** Parameter names are case-insensitive on the server (reference §3). */
const upper = (p: Json): Json => Object.fromEntries(Object.entries(p).map(([k, v]) => [k.toUpperCase(), v]));

function validHandler(h: unknown): boolean {
  try {
    const u = new URL(String(h));
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.includes('.') && String(h).length <= 1000;
  } catch {
    return false;
  }
}

function senderAdd(portal: FakePortal, user: FakeUser, p: Json): Out {
  if (!user.admin) return denied();
  if (!Object.keys(p).length) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Empty data!');
  if (!p.CODE) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Empty sender code!');
  if (!/^[a-zA-Z0-9._-]{1,128}$/.test(String(p.CODE))) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Wrong sender code!');
  if (!p.NAME || (typeof p.NAME === 'object' && !Object.keys(p.NAME).length)) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Empty sender NAME!');
  if (!p.TYPE) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Empty sender message TYPE!');
  if (p.TYPE !== 'SMS') return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Unknown sender message TYPE!');
  if (!validHandler(p.HANDLER)) return fail(400, 'ERROR_WRONG_HANDLER_URL', 'Wrong handler URL');
  if (portal.senders.has(p.CODE)) return fail(400, 'ERROR_SENDER_ALREADY_INSTALLED', 'Sender already installed!');
  portal.senders.set(p.CODE, { CODE: p.CODE, TYPE: p.TYPE, HANDLER: p.HANDLER, NAME: p.NAME });
  return ok(true);
}

export function callMethod(api: unknown, portal: FakePortal, user: FakeUser, method: string, params: Json, batched: boolean): Out {
  portal.calls.push({ method, params, userId: user.id, batched });
  const p = upper(params);
  switch (method) {
    case 'messageservice.sender.add':
      return senderAdd(portal, user, p);
    case 'messageservice.sender.update': {
      if (!portal.supportsSenderUpdate) return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
      if (!user.admin) return denied();
      if (!p.CODE) return fail(400, 'ERROR_SENDER_CODE_REQUIRED', 'Sender code required');
      const s = portal.senders.get(p.CODE);
      if (!s) return fail(400, 'ERROR_SENDER_NOT_FOUND', 'Sender not found');
      if (!p.HANDLER && !p.NAME && !p.DESCRIPTION) return fail(400, 'ERROR_SENDER_OTHER_PARAMS_REQUIRED', 'Other params required');
      if (p.HANDLER && !validHandler(p.HANDLER)) return fail(400, 'ERROR_WRONG_HANDLER_URL', 'Wrong handler URL');
      if (p.HANDLER) s.HANDLER = p.HANDLER;
      if (p.NAME) s.NAME = p.NAME;
      return ok(true);
    }
    case 'messageservice.sender.delete':
      if (!user.admin) return denied();
      if (!portal.senders.delete(p.CODE)) return fail(400, 'ERROR_SENDER_NOT_FOUND', 'Sender not found');
      return ok(true);
    case 'messageservice.sender.list':
      if (!user.admin) return denied();
      return ok([...portal.senders.keys()]);
    case 'messageservice.message.status.update': {
      if (!STATUSES.includes(p.STATUS)) return fail(400, 'ERROR_MESSAGE_STATUS_INCORRECT', 'Incorrect message status');
      if (!p.MESSAGE_ID || portal.purged.has(p.MESSAGE_ID)) return fail(400, 'ERROR_MESSAGE_NOT_FOUND', 'Message not found');
      portal.statusUpdates.push({ CODE: p.CODE, MESSAGE_ID: p.MESSAGE_ID, STATUS: p.STATUS });
      portal.shown.set(p.MESSAGE_ID, p.STATUS); // Bitrix24 takes statuses in any order: the last one wins
      return ok(true);
    }
    case 'event.bind': {
      if (!user.admin) return denied();
      const event = String(p.EVENT ?? '').toUpperCase();
      if (portal.events.some((e) => e.event === event && e.handler === p.HANDLER)) {
        return fail(400, 'ERROR_CORE', 'Handler already binded');
      }
      portal.events.push({ event, handler: String(p.HANDLER) });
      return ok(true);
    }
    case 'event.get':
      return ok(portal.events.map((e) => ({ event: e.event, handler: e.handler, auth_type: '0', offline: 0 })));
    case 'user.admin':
      return ok(user.admin);
    case 'profile':
      // Core rest_provider getProfile: ADMIN is CRestUtil::isAdmin(), the same check as user.admin.
      return ok({ ID: String(user.id), ADMIN: user.admin, NAME: `User ${user.id}`, LAST_NAME: '', PERSONAL_GENDER: '', TIME_ZONE: '' });
    case 'batch':
      return batch(api, portal, user, p);
    default:
      return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
  }
}

function batch(api: unknown, portal: FakePortal, user: FakeUser, p: Json): Out {
  if (batchedDepth > 0) return fail(400, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage');
  const cmd = (p.CMD ?? {}) as Record<string, string>;
  if (Object.keys(cmd).length > 50) return fail(400, 'ERROR_BATCH_LENGTH_EXCEEDED', 'Max batch length exceeded');
  const result: Json = {};
  const resultError: Json = {};
  batchedDepth++;
  try {
    for (const [key, line] of Object.entries(cmd)) {
      const [m, query = ''] = String(line).split('?', 2);
      const out = callMethod(api, portal, user, m!.toLowerCase(), qs.parse(query) as Json, true);
      if (out.status === 200) result[key] = out.body.result;
      else {
        resultError[key] = out.body;
        if (String(p.HALT) === '1') break;
      }
    }
  } finally {
    batchedDepth--;
  }
  // PHP's json_encode turns an empty map into [].
  const asPhp = (o: Json) => (Object.keys(o).length ? o : []);
  return ok({ result: asPhp(result), result_error: asPhp(resultError), result_total: [], result_next: [], result_time: {} });
}

let batchedDepth = 0;
