import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { smsForm } from './fakes/sms-body.js';
import { readdirSync, readFileSync } from 'node:fs';
import { processTree, startServiceProcess } from './helpers/service-process.js';
import { eventually } from './helpers/wait.js';

/**
 * `npm start` exactly as an operator runs it (the web process and its background process), killed with SIGKILL
 * while it takes messages and sends them, then started again: every stored message ends final within 60 s of the
 * restart, and none reaches the gateway twice.
 */
let svc: Awaited<ReturnType<typeof startServiceProcess>>;
beforeAll(async () => {
  svc = await startServiceProcess({
    install: { provider: 'smsru', api_key: 'restart-key', sender: 'MyShop' },
    // The statuses job polls every 2 s so that "final" comes from the gateway's own statuses, not from a timeout.
    // One request in flight at SMS.ru (up to 100 messages): intake outruns sending, so the kill finds messages both
    // in flight and still queued.
    // WORKER_PROCESS=1: the background process is forked even where the runner has one core.
    serviceEnv: { STATUS_POLL_CRON: '*/2 * * * * *', LOG_LEVEL: 'warn', GATEWAY_CONCURRENCY: '1', WORKER_PROCESS: '1', WORKER_NICENESS: '7' },
  });
}, 120_000);
afterAll(() => svc?.close());

it('WORKER_NICENESS lowers the CPU priority of npm start\'s background process, on every thread, and not the web process\'s', () => {
  const niceOf = (stat: string) => Number(stat.split(') ')[1]!.split(' ')[16]); // field 19 of /proc/<pid>/stat
  const threadsNice = (pid: number) => readdirSync(`/proc/${pid}/task`).map((tid) => niceOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
  const role = (pid: number) => {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') return undefined; // npm's shell says main.js too
    return /worker-main\.(js|ts)/.test(cmd) ? 'background' : /main\.(js|ts)/.test(cmd) ? 'web' : undefined;
  };
  const procs = processTree(svc.web.pid!).map((pid) => ({ pid, role: role(pid) }));
  const web = procs.filter((p) => p.role === 'web');
  const background = procs.filter((p) => p.role === 'background');
  expect([web.length, background.length]).toEqual([1, 1]);
  const webNice = niceOf(readFileSync(`/proc/${web[0]!.pid}/stat`, 'utf8'));
  expect(webNice, 'the suite itself runs so nice that 7 more would be capped at 19: nothing to tell apart').toBeLessThanOrEqual(12);
  // Every thread of it, V8's helpers too: niceness is per thread on Linux.
  expect(new Set(threadsNice(background[0]!.pid))).toEqual(new Set([Math.min(19, webNice + 7)]));
  expect(webNice).toBe(niceOf(readFileSync('/proc/self/stat', 'utf8'))); // the web process keeps the priority it was started with
});

it('npm start killed with SIGKILL under load and started again: every message final within 60 s, none sent twice', async () => {
  svc.smsru.setSendDelay(300); // each send is in flight for a while: the kill finds some between "taken" and "answered"
  const agent = new Agent({ connections: 16 });
  const accepted: string[] = [];
  let i = 0;
  let killed = false;
  // Closed loop, 16 connections, until the kill; answers lost to the kill are simply not counted as accepted.
  const load = Promise.all(
    Array.from({ length: 16 }, async () => {
      while (!killed) {
        const n = i++;
        const id = `restart${String(n).padStart(25, '0')}`;
        const body = smsForm({ portal: svc.fp, code: 'smsgw_myshop', id, to: `+7999${String(2000000 + n)}`, text: `order ${n}` });
        try {
          const res = await request(svc.handlerUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, dispatcher: agent });
          await res.body.text();
          if (res.statusCode === 200) accepted.push(id);
        } catch {
          /* the service died under this request */
        }
      }
    }),
  );
  const count = async (q: (b: ReturnType<typeof svc.ctx.db>) => unknown) => {
    const b = svc.ctx.db('messages');
    q(b);
    return Number((await b.count({ n: '*' }))[0]!.n);
  };
  await eventually(
    async () => (await count((b) => b.where({ state: 'sending' }).whereNotNull('submitted_at'))) > 0 && (await count((b) => b.where({ state: 'queued' }))) > 0,
    'messages in flight at SMS.ru and others still queued', 30_000,
  );
  await svc.kill(svc.web, 'SIGKILL');
  killed = true;
  await load;
  await agent.close();

  const stored = await svc.ctx.db('messages').select('b24_message_id', 'state');
  const storedIds = new Set(stored.map((r) => r.b24_message_id));
  expect(accepted.filter((id) => !storedIds.has(id))).toEqual([]); // every answered 200 was committed
  // Messages that never reached SMS.ru when it died: they must all be sent after the restart, exactly once.
  const neverSent = await svc.ctx.db('messages').where((q) => q.where('state', 'queued').orWhere((w) => w.where('state', 'sending').whereNull('submitted_at'))).pluck('b24_message_id');
  expect(neverSent.length).toBeGreaterThan(0); // the kill did cut work short

  svc.smsru.setSendDelay(0);
  const restarted = performance.now();
  const again = svc.run('start');
  await svc.up();
  const finalStates = ['delivered', 'undelivered', 'failed'];
  const settle = setInterval(() => svc.smsru.settle(), 500); // the operator delivers what it took
  try {
    await eventually(
      async () => Number((await svc.ctx.db('messages').whereNotIn('state', finalStates).count({ n: '*' }))[0]!.n) === 0,
      'every message to end final',
      60_000,
    );
  } finally {
    clearInterval(settle);
  }
  const tookMs = performance.now() - restarted;
  expect(tookMs).toBeLessThan(60_000);

  const rows = await svc.ctx.db('messages').select('b24_message_id', 'phone', 'state', 'failure_reason');
  const sends = new Map<string, number>();
  for (const m of svc.smsru.messages.values()) sends.set(m.to, (sends.get(m.to) ?? 0) + 1);
  expect([...sends.values()].every((n) => n === 1)).toBe(true); // none sent twice
  for (const r of rows) {
    const phone = String(r.phone).slice(1);
    // Delivered only if SMS.ru took it; failed only as an outcome SMS.ru could never name to us.
    if (r.state === 'delivered') expect(sends.get(phone)).toBe(1);
    else expect(r).toMatchObject({ state: 'failed', failure_reason: expect.stringMatching(/^outcome unknown/) });
  }
  const waiting = new Set(neverSent);
  expect(rows.filter((r) => waiting.has(r.b24_message_id)).every((r) => r.state === 'delivered')).toBe(true);
  // The web process's /metrics shows what its background process counted (it sent them, not the web process).
  const metrics = await (await fetch(`${svc.url}/metrics`)).text();
  const counted = [...metrics.matchAll(/^sms_gateway_sends_total\{[^}]*outcome="accepted"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  expect(counted).toBeGreaterThan(0);
  await svc.kill(again);
}, 180_000);
