import { afterEach, beforeEach, expect, it } from 'vitest';
import request from 'supertest';
import { loadConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { buildDeps } from '../src/deps.js';
import { startBackground } from '../src/runtime.js';
import { createDb } from '../src/platform/db.js';
import { createQueueSignal, NOTIFY_COALESCE_MS } from '../src/delivery/queue-signal.js';
import type { FakeBitrix24, FakePortal } from './fakes/bitrix24.js';
import { TEST_SECRET_KEY, type TestContext } from './helpers/app.js';
import { openAppPage, stateFor } from './helpers/install.js';
import { installedPortal } from './helpers/installed-portal.js';
import { postSms } from './helpers/sms.js';
import { eventually } from './helpers/wait.js';

const onPostgres = Boolean(process.env.TEST_DATABASE_URL);
let fake: FakeBitrix24;
let fp: FakePortal;
let web: TestContext;
let close: () => Promise<void>;
let stopWorker: (() => Promise<void>) | undefined;

beforeEach(async () => {
  ({ fake, fp, ctx: web, close } = await installedPortal({ env: { WORKER_ENABLED: '0' } }));
});
afterEach(async () => {
  await stopWorker?.();
  stopWorker = undefined;
  await close();
});

/**
 * A separate worker process (`npm run worker`): same database, its own memory, its own poll interval. On PostgreSQL,
 * `listening` turns true once its LISTEN is in place: startBackground then kicks the worker for anything queued before.
 */
function startSeparateWorker(poll: string) {
  const config = loadConfig({ ...Object.fromEntries(Object.entries(web.config).map(([k, v]) => [k, String(v ?? '')])), WORKER_POLL: poll, DATABASE_SCHEMA: web.dbSchema ?? '' });
  const deps = buildDeps({ config, db: web.db, log: createLogger('silent'), secretKey: TEST_SECRET_KEY });
  const worker = { listening: false };
  const kick = deps.worker.kick;
  deps.worker.kick = () => {
    worker.listening = true;
    kick();
  };
  stopWorker = startBackground(deps);
  return worker;
}

it.runIf(onPostgres)('on PostgreSQL a separate worker process is woken by intake at once (LISTEN/NOTIFY), not by polling', async () => {
  const worker = startSeparateWorker('60s');
  await eventually(() => worker.listening, 'the separate worker to LISTEN', 5_000);
  const started = Date.now();
  const id = await postSms(web, fp);
  await eventually(async () => (await web.db('messages').where({ b24_message_id: id }).first()).state === 'sent', 'the separate worker to send it', 5_000);
  expect(Date.now() - started).toBeLessThan(2_000);
});

it.runIf(onPostgres)('a test SMS from the settings page wakes a separate worker process at once too', async () => {
  const worker = startSeparateWorker('60s');
  await eventually(() => worker.listening, 'the separate worker to LISTEN', 5_000);
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

it.runIf(onPostgres)('NOTIFYs are coalesced: a burst of stored messages wakes other processes a few times, the last time after the last message, and never another deployment on the same database', async () => {
  const log = createLogger('silent');
  const sender = createQueueSignal(web.db, log);
  const wakes: number[] = [];
  const listener = createQueueSignal(web.db, log);
  let listening = false;
  await listener.listen(() => (listening ? wakes.push(performance.now()) : (listening = true)));
  // Another deployment: the same PostgreSQL database, a schema of its own.
  const otherDb = createDb(process.env.TEST_DATABASE_URL!, { schema: `${web.dbSchema}_other` });
  const other = createQueueSignal(otherDb, log);
  let otherWakes = -1; // its first call is the one after LISTEN
  await other.listen(() => void otherWakes++);
  try {
    expect(listening).toBe(true);
    const first = performance.now();
    for (let i = 0; i < 2000; i++) {
      sender.notify();
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1)); // ~100 turns of the event loop, over 0.1 s or more
    }
    const last = performance.now();
    await eventually(() => wakes.some((t) => t > last), 'a wake-up after the last message', 5_000);
    await new Promise((r) => setTimeout(r, 5 * NOTIFY_COALESCE_MS)); // nothing else is on its way
    expect(wakes.length).toBeGreaterThanOrEqual(1);
    // Each NOTIFY goes NOTIFY_COALESCE_MS after a message that found none pending, so they are that far apart at least.
    expect(wakes.length).toBeLessThanOrEqual(Math.floor((last - first) / NOTIFY_COALESCE_MS) + 1);
    expect(wakes.length).toBeLessThan(100);
    expect(otherWakes).toBe(0);
  } finally {
    await Promise.all([listener.close(), other.close()]);
    await otherDb.destroy();
  }
});
