import { afterEach, beforeEach, expect, it } from 'vitest';
import request from 'supertest';
import { loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { buildDeps } from '../src/deps.js';
import { startBackground } from '../src/runtime.js';
import { startFakeBitrix24, type FakeBitrix24, type FakePortal } from './fakes/bitrix24.js';
import { createTestContext, TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { installPortal, openAppPage, stateFor } from './helpers/install.js';
import { eventually } from './helpers/server.js';
import { postSms } from './helpers/sms.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
let fake: FakeBitrix24;
let fp: FakePortal;
let web: TestContext;
let stopWorker: (() => Promise<void>) | undefined;

beforeEach(async () => {
  fake = await startFakeBitrix24();
  fp = await fake.addPortal();
  web = await createTestContext({ fake, env: { WORKER_ENABLED: '0' } });
  await installPortal(web, fake, fp);
});
afterEach(async () => {
  await stopWorker?.();
  await web.close();
  await fake.close();
});

/** A separate worker process (`npm run worker`): same database, its own memory, its own poll interval. */
function startSeparateWorker(poll: string) {
  const config = loadConfig({ ...Object.fromEntries(Object.entries(web.config).map(([k, v]) => [k, String(v ?? '')])), WORKER_POLL: poll, DATABASE_SCHEMA: web.dbSchema ?? '' });
  const deps = buildDeps({ config, db: web.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY });
  stopWorker = startBackground(deps);
}

it.runIf(onPostgres)('on PostgreSQL a separate worker process is woken by intake at once (LISTEN/NOTIFY), not by polling', async () => {
  startSeparateWorker('60s');
  await new Promise((r) => setTimeout(r, 300)); // LISTEN established
  const started = Date.now();
  const id = await postSms(web, fp);
  await eventually(async () => (await web.db('messages').where({ b24_message_id: id }).first()).state === 'sent', 'the separate worker to send it', 5_000);
  expect(Date.now() - started).toBeLessThan(2_000);
});

it.runIf(onPostgres)('a test SMS from the settings page wakes a separate worker process at once too', async () => {
  startSeparateWorker('60s');
  await new Promise((r) => setTimeout(r, 300)); // LISTEN established
  const page = (await openAppPage(web, fake, fp)).text;
  const res = await request(web.app).post('/app/test-sms').type('form').set('accept', 'application/json')
    .send({ state: stateFor(page, '/app/test-sms'), phone: '+79991234567', text: 'Test' });
  expect(res.status).toBe(200);
  await eventually(async () => (await web.db('messages').where({ id: res.body.id }).first()).state === 'sent', 'the separate worker to send it', 5_000);
});

it.runIf(!onPostgres)('on SQLite a separate worker process picks messages up by polling WORKER_POLL', async () => {
  startSeparateWorker('200ms');
  const id = await postSms(web, fp);
  await eventually(async () => (await web.db('messages').where({ b24_message_id: id }).first()).state === 'sent', 'the separate worker to send it', 5_000);
});
