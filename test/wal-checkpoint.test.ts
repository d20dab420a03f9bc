import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { Agent, request } from 'undici';
import { smsForm } from './fakes/sms-body.js';
import { startServiceProcess } from './helpers/service-process.js';
import { eventually } from './helpers/wait.js';

/**
 * `npm start` on SQLite leaves the copying of the database's log into the database file (the checkpoint) to its
 * background process, so that no request of the web process waits for one: the log must still be copied while
 * messages pour in, and stay bounded, or the database would grow a log without end.
 */
describe.runIf(!process.env.TEST_DATABASE_URL)('SQLite\'s log under npm start', () => {
  let svc: Awaited<ReturnType<typeof startServiceProcess>>;
  beforeAll(async () => {
    svc = await startServiceProcess({
      install: { provider: 'smsru', api_key: 'wal-key', sender: 'MyShop' },
      serviceEnv: { LOG_LEVEL: 'warn', WORKER_PROCESS: '1' }, // the background process is forked even on one core
    });
  }, 120_000);
  afterAll(() => svc?.close());

  const size = (f: string) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };

  it('while npm start takes thousands of messages, the log is copied into the database file and stays bounded', async () => {
    const file = svc.ctx.config.DATABASE_URL;
    const agent = new Agent({ connections: 8 });
    const send = async (n: number) => {
      const body = smsForm({ portal: svc.fp, code: 'smsgw_myshop', id: `wal${String(n).padStart(29, '0')}`, to: `+7999${String(3000000 + n)}`, text: `order ${n} `.repeat(20) });
      const res = await request(svc.handlerUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, dispatcher: agent });
      await res.body.text();
      expect(res.statusCode).toBe(200);
    };
    const total = 4000;
    let largestLog = 0;
    try {
      // The background process is up once it took a first message: from then on its commits checkpoint.
      await send(0);
      await eventually(async () => Number((await svc.ctx.db('messages').where({ state: 'queued' }).count({ n: '*' }))[0]!.n) === 0, 'the first message taken', 60_000);
      const before = size(file);
      let next = 1;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let n = next++; n < total; n = next++) {
            await send(n);
            largestLog = Math.max(largestLog, size(`${file}-wal`));
          }
        }),
      );
      const stored = Number((await svc.ctx.db('messages').count({ n: '*' }))[0]!.n);
      expect(stored).toBe(total);
      // Copied: the database file holds what the log held (4,000 rows of ~400 bytes and their indexes: megabytes).
      expect(size(file) - before).toBeGreaterThan(1_000_000);
    } finally {
      await agent.close();
    }
    // Bounded: SQLite starts the log over once a checkpoint copied it all. With no checkpoint at all this load left a
    // 68 MB log (each commit writes whole 4 KB pages); with the background process's checkpoints ~7 MB, and with the
    // web process's own at 16 MB alone (a background process that never commits) ~17 MB.
    expect(largestLog).toBeLessThan(24 * 1024 * 1024);
  }, 120_000);
});
