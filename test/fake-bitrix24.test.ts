import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';

// The fake Bitrix24 must be at least as strict as the platform (core modules/messageservice/lib/restservice.php,
// modules/rest): a lenient fake hides bugs. These are its rules, checked over HTTP as the app meets them.

let fake: FakeBitrix24;
let fp: FakePortal;
beforeEach(async () => {
  fake = await startFakeBitrix24();
  fp = await fake.addPortal();
  fp.senders.set('smsgw_a', { CODE: 'smsgw_a', TYPE: 'SMS', HANDLER: 'http://127.0.0.1:9/handler', NAME: 'A' });
});
afterEach(() => fake.close());

async function rest(method: string, params: Record<string, unknown>, userId = 1) {
  const auth = fake.issueTokens(fp, userId).accessToken;
  const res = await fetch(`${fp.endpoint}${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...params, auth }) });
  return { status: res.status, body: (await res.json()) as { result?: any; error?: string; error_description?: string } };
}

const update = (p: Record<string, unknown>, userId = 1) => rest('messageservice.message.status.update', { CODE: 'smsgw_a', STATUS: 'delivered', ...p }, userId);

describe('the fake Bitrix24 is as strict as the core', () => {
  it('an uninstall kills every token of the app (app.info, a refresh, any call) and its providers, and queues ONAPPUNINSTALL', async () => {
    const t = fake.issueTokens(fp, 1);
    fp.installed = true;
    expect((await rest('app.info', {})).body.result).toMatchObject({ INSTALLED: true });
    const queued = fake.uninstallApp(fp, { clean: true });
    const call = await fetch(`${fp.endpoint}app.info`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: t.accessToken }) });
    expect([call.status, ((await call.json()) as { error?: string }).error]).toEqual([401, 'NO_AUTH_FOUND']);
    const info = await fetch(`${fake.oauthUrl}/rest/app.info?auth=${t.accessToken}`);
    expect([info.status, ((await info.json()) as { error?: string }).error]).toEqual([401, 'invalid_token']);
    const refresh = await fetch(`${fake.oauthUrl}/oauth/token/`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: fake.clientId, client_secret: fake.clientSecret, refresh_token: t.refreshToken }),
    });
    expect(((await refresh.json()) as { error?: string }).error).toBe('invalid_grant');
    // Core oauth/auth.php: whatever token a call carries, an app whose row is not active is refused.
    expect((await rest('app.info', {})).body.error).toBe('APPLICATION_NOT_FOUND');
    expect(fp.senders.size).toBe(0);
    expect(Object.fromEntries(new URLSearchParams(queued.body))).toMatchObject({
      event: 'ONAPPUNINSTALL', 'data[CLEAN]': '1', 'auth[member_id]': fp.memberId, 'auth[application_token]': fp.applicationToken,
    });
    expect(new URLSearchParams(queued.body).has('auth[access_token]')).toBe(false);
    // Installed again: the same application_token, calls answered, not installed until BX24.installFinish().
    fake.installApp(fp);
    expect((await rest('app.info', {})).body.result).toMatchObject({ INSTALLED: false });
  });

  it('status.update: CODE checked first, then MESSAGE_ID, then STATUS, then a message of this CODE, then author or administrator', async () => {
    fp.messages.set('m1', { code: 'smsgw_a', authorId: 2 });
    expect((await update({ CODE: '', MESSAGE_ID: 'm1' })).body).toMatchObject({ error: 'ERROR_SENDER_VALIDATION_FAILURE', error_description: 'Empty sender code!' });
    expect((await update({ CODE: 'bad code!', MESSAGE_ID: 'm1' })).body).toMatchObject({ error: 'ERROR_SENDER_VALIDATION_FAILURE', error_description: 'Wrong sender code!' });
    expect((await update({ MESSAGE_ID: '' })).body.error).toBe('ERROR_MESSAGE_NOT_FOUND');
    expect((await update({ MESSAGE_ID: 'm1', STATUS: 'Delivered' })).body.error).toBe('ERROR_MESSAGE_STATUS_INCORRECT');
    expect((await update({ MESSAGE_ID: 'never-created' })).body.error).toBe('ERROR_MESSAGE_NOT_FOUND');
    expect((await update({ MESSAGE_ID: 'm1', CODE: 'smsgw_other' })).body.error).toBe('ERROR_MESSAGE_NOT_FOUND');
    fp.users.push({ id: 3, admin: false });
    const stranger = await update({ MESSAGE_ID: 'm1' }, 3);
    expect([stranger.status, stranger.body.error]).toEqual([403, 'ACCESS_DENIED']);
    expect((await update({ MESSAGE_ID: 'm1' }, 2)).body.result).toBe(true); // the author, not an administrator
    expect((await update({ MESSAGE_ID: 'm1', STATUS: 'failed' }, 1)).body.result).toBe(true); // an administrator
    expect(fp.shown.get('m1')).toBe('failed');
  });

  it('a token the portal does not know answers 401 NO_AUTH_FOUND; an expired one expired_token', async () => {
    const made = await fetch(`${fp.endpoint}user.admin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: 'made-up' }) });
    expect([made.status, ((await made.json()) as { error: string }).error]).toEqual([401, 'NO_AUTH_FOUND']);
    const other = await fake.addPortal();
    const foreign = await fetch(`${fp.endpoint}user.admin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: fake.issueTokens(other).accessToken }) });
    expect(((await foreign.json()) as { error: string }).error).toBe('NO_AUTH_FOUND');
    const t = fake.issueTokens(fp).accessToken;
    fake.expireAccessTokens(fp);
    const expired = await fetch(`${fp.endpoint}user.admin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: t }) });
    expect(((await expired.json()) as { error: string }).error).toBe('expired_token');
  });

  it('a batch of more than 50 commands runs the first 50 and answers an error for each of the rest', async () => {
    const cmd = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`c${i}`, 'user.admin']));
    const { body } = await rest('batch', { halt: 0, cmd });
    expect(Object.keys(body.result.result)).toHaveLength(50);
    expect(Object.keys(body.result.result_error)).toHaveLength(10);
    expect(body.result.result_error.c55).toMatchObject({ error: 'ERROR_BATCH_LENGTH_EXCEEDED' });
  });

  it('a batch with halt stops at the first failed command, as PHP reads it: "true" and "1" halt, 0 does not', async () => {
    const cmd = { a: 'no.such.method', b: 'no.such.method', c: 'user.admin' };
    for (const halt of [true, 'true', 1, '1']) {
      const { body } = await rest('batch', { halt, cmd });
      expect([Object.keys(body.result.result_error), body.result.result]).toEqual([['a'], []]);
    }
    const { body } = await rest('batch', { halt: 0, cmd });
    expect([Object.keys(body.result.result_error), Object.keys(body.result.result)]).toEqual([['a', 'b'], ['c']]);
  });

  it('an app update deletes the app\'s providers and gives the portal a new application token', async () => {
    const before = fp.applicationToken;
    fake.updateApp(fp);
    expect(fp.senders.size).toBe(0);
    expect(fp.applicationToken).not.toBe(before);
  });

  it('events are not delivered before the installation is finished, and the handler\'s answer is read by nobody', async () => {
    const got: string[] = [];
    const srv = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        got.push(new URLSearchParams(body).get('event') ?? '');
        res.writeHead(500).end('nobody reads this');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/events`;
      fp.events.push({ event: 'ONAPPUNINSTALL', handler: url });
      fp.senders.get('smsgw_a')!.HANDLER = url;
      fp.installed = false;
      expect(await fake.deliverEvent(fp, 'ONAPPUNINSTALL')).toBe(0);
      expect(got).toEqual([]);
      fp.installed = true; // BX24.installFinish()
      expect(await fake.deliverEvent(fp, 'ONAPPUNINSTALL')).toBe(1);
      expect(got).toEqual(['ONAPPUNINSTALL']);
      const sent = await fake.dispatchSms(fp, { code: 'smsgw_a', to: '+79991234567', text: 'hi' });
      expect(Object.keys(sent)).toEqual(['id']); // no status: the queue does not look at it
      expect(fp.shown.get(sent.id)).toBe('sent');
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
