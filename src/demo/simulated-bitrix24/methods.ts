import qs from 'qs';
import type { Json } from './http.js';
import type { SimulatedBitrix24, SimulatedPortal, SimulatedUser } from './bitrix24.js';

type Out = { status: number; body: Json };
const ok = (result: unknown): Out => ({ status: 200, body: { result, time: { start: Date.now() / 1000 } } });
const fail = (status: number, error: string, description: string): Out => ({ status, body: { error, error_description: description } });
const denied = () => fail(403, 'ACCESS_DENIED', 'Access denied!');
const STATUSES = ['queued', 'sent', 'delivered', 'undelivered', 'failed'];

/** Parameter names are case-insensitive on the server (reference §3). */
/** PHP's (bool) of a request parameter: false for a missing one, '', '0', 0 and false; true for anything else. */
const phpTrue = (v: unknown) => v !== undefined && v !== null && v !== '' && v !== '0' && v !== 0 && v !== false;
const upper = (p: Json): Json => Object.fromEntries(Object.entries(p).map(([k, v]) => [k.toUpperCase(), v]));

function validHandler(h: unknown): boolean {
  try {
    const u = new URL(String(h));
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.includes('.') && String(h).length <= 1000;
  } catch {
    return false;
  }
}

function senderAdd(portal: SimulatedPortal, user: SimulatedUser, p: Json): Out {
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

/**
 * Core RestService::updateMessageStatus, check for check: CODE, MESSAGE_ID, STATUS, then the message Bitrix24 created
 * for this app and CODE, then its author or an administrator.
 */
function statusUpdate(portal: SimulatedPortal, user: SimulatedUser, p: Json): Out {
  if (!p.CODE) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Empty sender code!');
  if (!/^[a-z0-9.\-_]+$/i.test(String(p.CODE))) return fail(400, 'ERROR_SENDER_VALIDATION_FAILURE', 'Wrong sender code!');
  if (!p.MESSAGE_ID) return fail(400, 'ERROR_MESSAGE_NOT_FOUND', 'Message not found!');
  if (!STATUSES.includes(p.STATUS)) return fail(400, 'ERROR_MESSAGE_STATUS_INCORRECT', 'Message status incorrect!');
  const m = portal.messages.get(String(p.MESSAGE_ID));
  if (portal.crashingMessages.has(String(p.MESSAGE_ID))) throw new PhpFatal();
  if (!m || m.code !== p.CODE || portal.purged.has(p.MESSAGE_ID)) return fail(400, 'ERROR_MESSAGE_NOT_FOUND', 'Message not found!');
  if (m.authorId !== user.id && !user.admin) return denied();
  portal.statusUpdates.push({ CODE: p.CODE, MESSAGE_ID: p.MESSAGE_ID, STATUS: p.STATUS, userId: user.id });
  portal.shown.set(p.MESSAGE_ID, p.STATUS); // Bitrix24 takes statuses in any order: the last one wins
  return ok(true);
}

export function callMethod(api: unknown, portal: SimulatedPortal, user: SimulatedUser, method: string, params: Json, batched: boolean): Out {
  portal.calls.push({ method, params, userId: user.id, batched });
  if (portal.missingMethods.has(method)) return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
  if (batched && portal.timeLimited.has(method)) return timeLimit();
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
    case 'messageservice.message.status.update':
      return statusUpdate(portal, user, p);
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
    case 'app.info':
      // Core CRestProvider::appInfo, as a portal answers it (b24restdocs app-info.md); INSTALLED turns true at installFinish.
      return ok({
        ID: 7, CODE: 'test.app', VERSION: 1, STATUS: 'L', INSTALLED: portal.installed, PAYMENT_EXPIRED: 'N', DAYS: null,
        LANGUAGE_ID: 'en', LICENSE: 'en_project',
      });
    case 'profile':
      // Core rest_provider getProfile: ADMIN is CRestUtil::isAdmin(), the same check as user.admin.
      return ok({ ID: String(user.id), ADMIN: user.admin, NAME: `User ${user.id}`, LAST_NAME: '', PERSONAL_GENDER: '', TIME_ZONE: '' });
    case 'batch':
      return batch(api, portal, user, p);
    case 'method.get':
      return ok(methodGet(portal, params));
    case 'methods':
      return ok(FAKE_METHODS.filter((m) => !portal.missingMethods.has(m)));
    case 'event.test':
      return eventTest(api as SimulatedBitrix24, portal, user, params);
    default:
      return fail(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
  }
}

function batch(api: unknown, portal: SimulatedPortal, user: SimulatedUser, p: Json): Out {
  if (batchedDepth > 0) return fail(400, 'ERROR_BATCH_METHOD_NOT_ALLOWED', 'Method is not allowed for batch usage');
  const cmd = (p.CMD ?? {}) as Record<string, string>;
  const result: Json = {};
  const resultError: Json = {};
  batchedDepth++;
  try {
    for (const [i, [key, line]] of Object.entries(cmd).entries()) {
      // The core runs the first 50 commands and answers an error for each one beyond them.
      if (i >= 50) {
        resultError[key] = { error: 'ERROR_BATCH_LENGTH_EXCEEDED', error_description: 'Max batch length exceeded' };
        continue;
      }
      const [m, query = ''] = String(line).split('?', 2);
      const out = callMethod(api, portal, user, m!.toLowerCase(), qs.parse(query) as Json, true);
      if (out.status === 200) result[key] = out.body.result;
      else {
        resultError[key] = out.body;
        if (phpTrue(p.HALT)) break; // core rest_provider.php methodsBatch: (bool)$arQuery['HALT']
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

/** A PHP error in a method: nothing in the REST server catches it, the whole request fails (500). */
export class PhpFatal extends Error {}

/** What these simulated portals can answer (method.get, the deprecated `methods`); missingMethods takes some away. */
const FAKE_METHODS = [
  'messageservice.sender.add', 'messageservice.sender.update', 'messageservice.sender.delete', 'messageservice.sender.list',
  'messageservice.message.status.update', 'event.bind', 'event.get', 'event.test', 'user.admin', 'app.info', 'profile', 'batch', 'method.get', 'methods',
];

/**
 * Core CRestProvider::getMethod: the key is `name` in lower case only (NAME is not read), and method names are
 * matched as given (`User.Get` does not exist); no name gives false for both.
 */
function methodGet(portal: SimulatedPortal, params: Json) {
  const name = typeof params.name === 'string' ? params.name : '';
  const exists = FAKE_METHODS.includes(name) && !portal.missingMethods.has(name) && (name !== 'messageservice.sender.update' || portal.supportsSenderUpdate);
  return { isExisting: exists, isAvailable: exists };
}

/**
 * Core Event::eventTest: answers 1 and fires OnAppTest for the calling app, which reaches only handlers bound to
 * ONAPPTEST. The cloud queue POSTs it after the answer, never before installFinish, with the caller's tokens
 * (the event is declared with sendRefreshToken) and data[QUERY] = the call's parameters. A portal whose firewall
 * blocks the queue loses it.
 */
function eventTest(api: SimulatedBitrix24, portal: SimulatedPortal, user: SimulatedUser, params: Json): Out {
  const handlers = portal.installed && !portal.eventQueueBlocked ? portal.events.filter((e) => e.event === 'ONAPPTEST') : [];
  for (const { handler } of handlers) {
    const tokens = api.issueTokens(portal, user.id);
    const body = qs.stringify({
      event: 'ONAPPTEST', event_handler_id: '23', ts: String(Math.floor(Date.now() / 1000)),
      data: { QUERY: params, LANGUAGE_ID: 'en' },
      auth: {
        access_token: tokens.accessToken, refresh_token: tokens.refreshToken, expires_in: '3600', scope: 'messageservice',
        domain: portal.domain, server_endpoint: `${api.oauthUrl}/rest/`, status: 'L', client_endpoint: portal.endpoint,
        member_id: portal.memberId, user_id: String(user.id), application_token: portal.applicationToken,
      },
    });
    portal.eventDeliveries.push((async () => {
      await new Promise((r) => setImmediate(r)); // the queue calls after the REST answer
      try {
        const res = await fetch(handler, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
        await res.text();
      } catch {
        // lost: the queue never resends
      }
    })());
  }
  return ok(1);
}

const timeLimit = () => fail(429, 'OPERATION_TIME_LIMIT', 'Method is blocked due to operation time limit.');

/**
 * Answers that come before a method runs: a closed public part (core rest.php init(), HTTP 403), a REST API blocked
 * for overload (HTTP 401), a method over its execution-time limit (HTTP 429).
 */
export function portalBlock(portal: SimulatedPortal, method: string): Out | undefined {
  if (portal.siteStopped) return fail(403, 'PORTAL_DELETED', 'Portal was deleted');
  if (portal.overloaded) return fail(401, 'OVERLOAD_LIMIT', 'REST API is blocked due to overload');
  if (portal.restUnavailable) return fail(401, 'ACCESS_DENIED', 'REST is available only on commercial plans.');
  if (portal.timeLimited.has(method)) return timeLimit();
  return undefined;
}

/** A successful answer's `time` block carries the method's operating_reset_at, as cloud portals' do (limits.md). */
export function withOperating(portal: SimulatedPortal, method: string, out: Out): Out {
  const resetAt = portal.operatingResetAt.get(method);
  if (out.status !== 200 || resetAt === undefined) return out;
  return { ...out, body: { ...out.body, time: { ...out.body.time, operating_reset_at: resetAt, operating: 0 } } };
}
