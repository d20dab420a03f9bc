import { expect, it } from 'vitest';
import { createLogger, redact } from '../src/platform/logger.js';
import { createTestDb } from './helpers/db.js';
import request from 'supertest';
import { createTestContext } from './helpers/app.js';
import { dlrToken } from '../src/delivery/dlr-url.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

it('censors secret fields of a line, one level down and in request headers, without touching what was logged', () => {
  const { log, lines } = capture();
  const auth = { member_id: 'm1', access_token: 'AT-1', application_token: 'APP-1' };
  const req = { method: 'POST', headers: { authorization: 'Bearer X', cookie: 'sid=Y', 'content-type': 'text/plain' } };
  const fields = { api_key: 'KEY-1', password: 'PW', portalId: 7, auth, req };
  log.info(fields, 'event');
  expect(lines[0]).toMatchObject({
    msg: 'event', api_key: '[redacted]', password: '[redacted]', portalId: 7,
    auth: { member_id: 'm1', access_token: '[redacted]', application_token: '[redacted]' },
    req: { method: 'POST', headers: { authorization: '[redacted]', cookie: '[redacted]', 'content-type': 'text/plain' } },
  });
  // The caller's objects are as they were.
  expect(fields).toEqual({ api_key: 'KEY-1', password: 'PW', portalId: 7, auth, req });
  expect(auth.access_token).toBe('AT-1');
  expect(req.headers).toEqual({ authorization: 'Bearer X', cookie: 'sid=Y', 'content-type': 'text/plain' });
  expect(JSON.stringify(lines)).not.toMatch(/KEY-1|AT-1|APP-1|Bearer X|sid=Y|"PW"/);
});

it('censors a secret carried by an error and keeps its message and stack', () => {
  const { log, lines } = capture();
  const err = Object.assign(new Error('gateway said no'), { api_key: 'KEY-2', code: 'E1' });
  log.warn({ err }, 'gateway.failed');
  log.warn(err, 'gateway.failed.bare');
  for (const line of lines) {
    expect(line.err).toMatchObject({ type: 'Error', message: 'gateway said no', code: 'E1', api_key: '[redacted]' });
    expect(String((line.err as { stack: string }).stack)).toContain('gateway said no');
  }
  expect(err.api_key).toBe('KEY-2');
  // A field an error inherits is logged too, so it is censored too.
  class GatewayError extends Error {}
  (GatewayError.prototype as unknown as Record<string, string>).secret = 'INHERITED-1';
  log.warn(new GatewayError('inherited'), 'gateway.failed.inherited');
  expect(lines[2]!.err).toMatchObject({ message: 'inherited', secret: '[redacted]' });
  expect(JSON.stringify(lines)).not.toMatch(/KEY-2|INHERITED-1/);
});

it('censors the bindings of child loggers, and of their children', () => {
  const { log, lines } = capture();
  const child = log.child({ portalId: 3, secret: 'S-1' });
  child.info('one');
  child.child({ refresh_token: 'RT-1', user: { password: 'PW-2' } }).info({ n: 1 }, 'two');
  expect(lines[0]).toMatchObject({ portalId: 3, secret: '[redacted]', msg: 'one' });
  expect(lines[1]).toMatchObject({ portalId: 3, secret: '[redacted]', refresh_token: '[redacted]', user: { password: '[redacted]' }, n: 1, msg: 'two' });
  // With options of its own, bindings set later, its own formatter and serializers: still censored.
  const quiet = log.child({ application_token: 'APP-2' }, { level: 'warn' });
  quiet.info('not logged');
  quiet.warn('three');
  quiet.setBindings({ access_token: 'AT-3' });
  quiet.warn('four');
  const own = log.child({}, { formatters: { log: (o: object) => ({ ...o, api_key: 'KEY-5' }) }, serializers: { user: (u: { id: number }) => ({ id: u.id, password: 'PW-6' }) } });
  own.info({ user: { id: 9 } }, 'five');
  expect(lines.slice(2).map((l) => l.msg)).toEqual(['three', 'four', 'five']);
  expect(lines[2]).toMatchObject({ application_token: '[redacted]' });
  expect(lines[3]).toMatchObject({ access_token: '[redacted]' });
  expect(lines[4]).toMatchObject({ api_key: '[redacted]', user: { id: 9, password: '[redacted]' } });
  expect(JSON.stringify(lines)).not.toMatch(/S-1|RT-1|PW-2|APP-2|AT-3|KEY-5|PW-6/);
});

it('logs a line without secrets as it is, without copying it', () => {
  const fields = { portalId: 1, b24MessageId: 'abc', to: '*******4567', nested: { ok: true } };
  expect(redact(fields)).toBe(fields);
  const { log, lines } = capture();
  log.info(fields, 'message.queued');
  expect(lines[0]).toEqual({ level: 30, time: expect.any(Number), ...fields, msg: 'message.queued' });
});

it('a failed query\'s error, logged as it is, names the SQL but not the values it carried', async () => {
  const { db, drop } = await createTestDb();
  try {
    const values = { b24_message_id: 'MSG-SECRET-1', message_to: '+79990001122', body: 'Your code is 424242', code: 'c', state: 'queued', next_attempt_at: 1, created_at: 1, updated_at: 1 };
    // portal 999999 does not exist: the foreign key refuses the row (portal_id is not null, so a value is needed).
    const err = await db('messages').insert({ portal_id: 999999, ...values }).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/insert into .messages./i);
    expect(err!.message).not.toMatch(/MSG-SECRET-1|79990001122|424242/);
  } finally {
    await drop();
  }
});

it('an error while a delivery report is handled is logged without the portal\'s secret from its URL', async () => {
  const { log, lines } = capture();
  const ctx = await createTestContext({ log });
  try {
    const token = dlrToken(ctx.deps.crypto, 7);
    ctx.deps.settings.get = async () => { throw new Error('database went away'); };
    const res = await request(ctx.app).post(`/dlr/smsru/7/${token}`).type('form').send({ 'data[0]': 'sms_status\n1-1\n103\n1790000000', hash: 'x' });
    expect(res.status).toBe(500);
    const line = lines.find((l) => l.msg === 'http.unhandled');
    expect(line).toMatchObject({ path: '/dlr/smsru/7/[redacted]' });
    expect(JSON.stringify(lines)).not.toContain(token);
  } finally {
    await ctx.close();
  }
});
