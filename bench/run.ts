/**
 * `npm run bench`: one table, one run, everything on 127.0.0.1. The service runs as an operator runs it (`npm start`,
 * its own processes, on a database where a portal was installed through the install page) against the fake Bitrix24
 * with Bitrix24's real limits, a fake SMS.ru, and a real Kannel (bearerbox + smsbox + fakesmsc).
 *  - intake: Kannel's own `GET /cgi-bin/sendsms` (at -v 2) and our `POST /handler` (at LOG_LEVEL=warn, as Kannel, and
 *    at the default info), same load generator (closed loop, 64 connections, 5 s), alternated three times, medians
 *    and their ratios;
 *  - /handler p50/p99 at 1,000 req/s offered (open loop) while the background process sends to a gateway that
 *    answers in 50 ms;
 *  - end to end: /handler → Kannel (fakesmsc, DLRs) → `delivered` reported to Bitrix24, and REST calls per status;
 *  - intake with 1,000,000 messages already stored, alternated with an empty database;
 *  - with BENCH_PG_URL=postgres://…: intake on PostgreSQL with two web processes, 32 connections each.
 * BENCH_SECONDS (5) and BENCH_E2E (5000) scale it down for a quick look; BENCH_ONLY=latency,e2e picks parts.
 */
import http from 'node:http';
import os from 'node:os';
import { Agent, request } from 'undici';
import { spawn } from 'node:child_process';
import { runLoad, type Load } from './load-runner.js';
import { kannelInstalled, startKannel, type Kannel } from '../test/helpers/kannel.js';
import { readFileSync } from 'node:fs';
import { cpuSeconds, freePort, nodeRssMb, processTree, startServiceProcess } from '../test/helpers/service-process.js';
import { eventually } from '../test/helpers/wait.js';
import { installPortal } from '../test/helpers/install.js';
import type { FakePortal } from '../test/fakes/bitrix24.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const E2E = Number(process.env.BENCH_E2E ?? 5000);
const PG_URL = process.env.BENCH_PG_URL;
const ROUNDS = 3;
/** Seconds of the open loop at full rate before latencies count (JIT of the generator and the service). */
const WARM = 2;
/** Seconds the send worker gets to send the million-row database's backlog. */
const WORKER_SECONDS = 120;
/** BENCH_ONLY=latency,e2e runs those parts only (intake, latency, e2e, scale: the million rows); all of them without it. */
const ONLY = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());
const runs = (part: string) => !ONLY || ONLY.includes(part);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (l: Load) => (l.total - l.errors) / l.elapsed;
const mb = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' + ') + ' MB';
/** The highest RSS of each node process under these processes while `work` runs, sampled every 100 ms from /proc. */
async function peakRss<T>(pids: number[], work: Promise<T>): Promise<[T, number[]]> {
  const peak = new Map<number, number>();
  const sample = () => {
    for (const root of pids) for (const [pid, mbNow] of nodeRss(root)) peak.set(pid, Math.max(peak.get(pid) ?? 0, mbNow));
  };
  const timer = setInterval(sample, 100);
  try {
    return [await work, [...peak.values()]];
  } finally {
    clearInterval(timer);
    sample();
  }
}
/** RSS in MB of each node process in a process tree, by pid. */
function nodeRss(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      // The service's own processes (its two entry points), not npm, its shell or the build that precedes them.
      const service = readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node' && /(^|\/)(main|worker-main)\.(js|ts)\b/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (m && service) out.set(pid, Number(m[1]) / 1024);
    } catch { /* gone */ }
  }
  return out;
}
/** Peaks of several runs of the same processes: the highest of each. */
const maxEach = (a: number[], b: number[]) => (a.length >= b.length ? a : b).map((_, i) => Math.max(a[i] ?? 0, b[i] ?? 0));
/** CPU seconds used so far by named processes (pid → name), and by this bench process itself. */
function cpuNow(named: Map<number, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, name] of named) out.set(name, (out.get(name) ?? 0) + cpuSeconds(pid));
  const own = process.cpuUsage();
  out.set('bench', (own.user + own.system) / 1e6);
  return out;
}
/** CPU ms per message between two cpuNow() readings, by name, and what they add up to. */
function cpuPerMessage(before: Map<string, number>, after: Map<string, number>, messages: number, extra: Record<string, number> = {}) {
  const per: Record<string, number> = {};
  for (const [name, s] of after) per[name] = ((s - (before.get(name) ?? 0)) * 1000) / messages;
  for (const [name, s] of Object.entries(extra)) per[name] = (s * 1000) / messages;
  const total = Object.values(per).reduce((a, b) => a + b, 0);
  return { per, total, text: `${Object.entries(per).map(([n, ms]) => `${n} ${ms.toFixed(2)}`).join(', ')}; total ${total.toFixed(2)} ms` };
}
/** The service's node processes by role, read off their command lines. */
function serviceProcesses(rootPid: number): Map<number, string> {
  const named = new Map<number, string>();
  for (const pid of processTree(rootPid)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('worker-main')) named.set(pid, 'worker');
      else if (cmd.includes('main.js') || cmd.includes('main.ts')) named.set(pid, 'web');
    } catch { /* gone */ }
  }
  return named;
}
const kannelProcesses = (k: Kannel) => new Map(k.pids().map((pid) => [pid, 'Kannel'] as [number, string]));
const cores = os.availableParallelism();

const rows: string[][] = [];
const row = (...cells: Array<string | number>) => {
  rows.push(cells.map(String));
  console.error(`  ${cells.join(' | ')}`); // progress while the bench runs
};
let prefix = 0;
const closedLoad = (url: string, conns: number, svc?: { fp: { memberId: string; applicationToken: string } }, k?: Kannel, seconds = SECONDS) =>
  runLoad(['closed', url, String(conns), String(seconds), svc ? svc.fp.memberId : '-', svc ? svc.fp.applicationToken : `${k!.username}:${k!.password}`, `b${++prefix}x`]);
/**
 * Seconds of closed-loop load that count for nothing before the measured rounds: a service just started runs its
 * first thousands of requests unoptimised (V8) and, on PostgreSQL, grows its pools (a new backend a connection).
 * On this machine that made the first of three rounds the slowest every time, by a third to a half.
 */
const WARM_CLOSED = 2;

/** BENCH_SERVICE_NODE_OPTIONS (a profiler preload, say) reaches the service's processes only, not the load generator. */
const serviceNodeOptions: Record<string, string> = process.env.BENCH_SERVICE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS } : {};

const smsruInstall = { provider: 'smsru', api_key: 'bench-key', sender: 'Bench' };

async function withDatabase<T>(url: string | undefined, run: () => Promise<T>): Promise<T> {
  const before = process.env.TEST_DATABASE_URL;
  if (url) process.env.TEST_DATABASE_URL = url;
  else delete process.env.TEST_DATABASE_URL;
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env.TEST_DATABASE_URL;
    else process.env.TEST_DATABASE_URL = before;
  }
}

/**
 * Closed loop: Kannel's sendsms and our handler, alternated, same generator. Kannel runs at `-v 2` (warnings only: no
 * line per message), so ours is measured at LOG_LEVEL=warn beside it, and at the default LOG_LEVEL=info (a line per
 * message) in the same alternation. Returns the handler's median at the default level.
 */
async function intakeVsKannel(kannel: Kannel): Promise<number> {
  const svc = await startServiceProcess({ env: { WORKER_ENABLED: '0', LOG_LEVEL: 'warn' }, install: smsruInstall, serviceEnv: serviceNodeOptions });
  const svcInfo = await startServiceProcess({ env: { WORKER_ENABLED: '0' }, install: smsruInstall, serviceEnv: serviceNodeOptions });
  const k: Load[] = [];
  const h: Load[] = [];
  const hi: Load[] = [];
  let rss: number[] = [];
  // CPU ms per answered request of the server's processes and of the generator, summed over the rounds.
  const cpuK = { server: 0, generator: 0, n: 0 };
  const cpuH = { server: 0, generator: 0, n: 0 };
  const cpuI = { server: 0, generator: 0, n: 0 };
  const timed = async (into: typeof cpuK, named: Map<number, string>, load: () => Promise<Load>) => {
    const before = [...named.keys()].reduce((s, pid) => s + cpuSeconds(pid), 0);
    const l = await load();
    into.server += [...named.keys()].reduce((s, pid) => s + cpuSeconds(pid), 0) - before;
    into.generator += l.cpuS;
    into.n += l.total - l.errors;
    return l;
  };
  const perRequest = (c: typeof cpuK, who: string) =>
    `CPU ms a request: ${who} ${((c.server * 1000) / c.n).toFixed(2)}, generator ${((c.generator * 1000) / c.n).toFixed(2)}`;
  const floor = await startFloor();
  let warm: Load | undefined;
  const f: Load[] = [];
  const cpuF = { server: 0, generator: 0, n: 0 };
  try {
    await closedLoad(`${kannel.url}/cgi-bin/sendsms`, 64, undefined, kannel, WARM_CLOSED);
    await closedLoad(floor.url, 64, svc, undefined, WARM_CLOSED);
    warm = await closedLoad(svc.handlerUrl, 64, svc, undefined, WARM_CLOSED);
    await closedLoad(svcInfo.handlerUrl, 64, svcInfo, undefined, WARM_CLOSED);
    for (let r = 0; r < ROUNDS; r++) {
      k.push(await timed(cpuK, kannelProcesses(kannel), () => closedLoad(`${kannel.url}/cgi-bin/sendsms`, 64, undefined, kannel)));
      f.push(await timed(cpuF, new Map([[floor.pid, 'floor']]), () => closedLoad(floor.url, 64, svc)));
      const [l, peak] = await peakRss([svc.web.pid!], timed(cpuH, serviceProcesses(svc.web.pid!), () => closedLoad(svc.handlerUrl, 64, svc)));
      h.push(l);
      rss = maxEach(rss, peak);
      hi.push(await timed(cpuI, serviceProcesses(svcInfo.web.pid!), () => closedLoad(svcInfo.handlerUrl, 64, svcInfo)));
    }
  } finally {
    floor.stop();
  }
  const stored = Number((await svc.ctx.db('messages').count({ n: '*' }))[0]!.n);
  const answered = [...h, warm!].reduce((a, l) => a + l.total - l.errors, 0); // the warm-up's are stored too
  const [km, hm, him] = [median(k.map(rate)), median(h.map(rate)), median(hi.map(rate))];
  row('Kannel 1.4.5 GET /cgi-bin/sendsms (dlr-mask=0, stores nothing)', 'closed loop, 64 conns', km.toFixed(0), median(k.map((l) => l.p50)).toFixed(1), median(k.map((l) => l.p99)).toFixed(1), `runs: ${k.map((l) => rate(l).toFixed(0)).join(', ')}; ${perRequest(cpuK, 'Kannel')}`);
  const fm = median(f.map(rate));
  row("node's own http server: reads the same form, answers, nothing else", 'closed loop, 64 conns', fm.toFixed(0), median(f.map((l) => l.p50)).toFixed(1), median(f.map((l) => l.p99)).toFixed(1),
    `the floor under any Node.js intake on this machine; runs: ${f.map((l) => rate(l).toFixed(0)).join(', ')}; ${(fm / km).toFixed(2)}× Kannel; ${perRequest(cpuF, 'server')}`);
  row('POST /handler, stored durably (SQLite), LOG_LEVEL=warn', 'closed loop, 64 conns', hm.toFixed(0), median(h.map((l) => l.p50)).toFixed(1), median(h.map((l) => l.p99)).toFixed(1),
    `no line per message, as Kannel's -v 2; runs: ${h.map((l) => rate(l).toFixed(0)).join(', ')}; ${(hm / km).toFixed(2)}× Kannel; ${stored} stored of ${answered} answered 200; peak RSS ${mb(rss)}; ${perRequest(cpuH, 'web')}`);
  row('POST /handler, stored durably (SQLite), LOG_LEVEL=info', 'closed loop, 64 conns', him.toFixed(0), median(hi.map((l) => l.p50)).toFixed(1), median(hi.map((l) => l.p99)).toFixed(1),
    `the default: a line per message; runs: ${hi.map((l) => rate(l).toFixed(0)).join(', ')}; ${(him / km).toFixed(2)}× Kannel; ${perRequest(cpuI, 'web')}`);
  await svc.close();
  await svcInfo.close();
  return him;
}

/** bench/node-floor.mjs in its own process, as plain JavaScript like the service's compiled dist/. */
async function startFloor(): Promise<{ url: string; pid: number; stop: () => void }> {
  // Its stdin is a pipe from this process: it exits when the bench goes away, however the bench ends.
  const child = spawn(process.execPath, ['bench/node-floor.mjs'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`node-floor exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/handler`, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

/** Open loop at 1,000 req/s while the background process sends every message to a gateway that answers in 50 ms. */
async function latencyUnderSending() {
  const svc = await startServiceProcess({ install: smsruInstall, serviceEnv: serviceNodeOptions });
  svc.smsru.setSendDelay(50);
  await warmUp(svc);
  const [sentBefore, requestsBefore] = [svc.smsru.messages.size, svc.smsru.stats.sendRequests];
  const named = serviceProcesses(svc.web.pid!);
  const cpu0 = cpuNow(named);
  // The service's own clock too (its /handler histogram, from the request's headers to the answer's last byte, after
  // the warm-up): what is left of the generator's p99 is time in the kernel's queues and processes waiting for a core.
  const afterWarmUp = new Promise<number[]>((r) => setTimeout(() => void handlerBuckets(svc.url).then(r), WARM * 1000));
  const l = await runLoad(['open', svc.handlerUrl, '1000', String(WARM + 2 * SECONDS), svc.fp.memberId, svc.fp.applicationToken, `o${++prefix}x`, String(WARM)]);
  const warm = await afterWarmUp;
  const own = (await handlerBuckets(svc.url)).map((n, i) => n - warm[i]!);
  const sentNow = svc.smsru.messages.size - sentBefore;
  const cpu = cpuPerMessage(cpu0, cpuNow(named), l.total, { generator: l.cpuS });
  const rss = nodeRssMb(svc.web.pid!);
  row('POST /handler while the worker sends (gateway answers in 50 ms)', '1,000 req/s offered, open loop', rate(l).toFixed(0), l.p50.toFixed(1), l.p99.toFixed(1),
    `${l.errors} errors; by the service's own clock ${ownShare(own, 0.01)} answered within 10 ms, ${ownShare(own, 0.025)} within 25; ${sentNow} sent meanwhile in ${svc.smsru.stats.sendRequests - requestsBefore} SMS.ru requests; RSS web + worker ${mb(rss)}; ` +
    `CPU ms per message: ${cpu.text.replace('bench', 'fake SMS.ru + Bitrix24')}, so ${((cpu.total * 1000) / 1000 / cores * 100).toFixed(0)} % of ${cores} cores at 1,000/s`);
  await svc.close();
}

/** Cumulative counts of the service's /handler duration histogram (answers 200), by upper bound in seconds. */
async function handlerBuckets(url: string): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: number[] = [];
  for (const m of text.matchAll(/^sms_handler_duration_seconds_bucket\{[^}]*status="200"[^}]*le="([^"]+)"\} (\d+)$/gm)) out.push(Number(m[2]));
  return out;
}
const HANDLER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, Infinity];
/** The share of answers a cumulative bucket delta puts at or under `le` seconds, as a percentage. */
const ownShare = (cum: number[], le: number) => `${((100 * cum[HANDLER_BUCKETS.indexOf(le)]!) / cum[cum.length - 1]!).toFixed(1)} %`;

/**
 * A service that runs, as in production, not one still starting: 50 messages through the handler, and every one of
 * them taken by the background process (its start-up, on this machine up to a second of CPU, and its catch-up
 * with what came in meanwhile, are not what the figures after it are about).
 */
async function warmUp(svc: Awaited<ReturnType<typeof startServiceProcess>>) {
  const tag = `w${++prefix}x`;
  for (let i = 0; i < 50; i++) svc.fp.messages.set(`${tag}${String(i).padStart(24, '0')}`, { code: 'smsgw_bench', authorId: 1 });
  await runLoad(['open', svc.handlerUrl, '50', '1', svc.fp.memberId, svc.fp.applicationToken, tag]);
  await eventually(async () => {
    const [r] = await svc.ctx.db('messages').where('b24_message_id', 'like', `${tag}%`).whereNotIn('state', ['queued', 'sending']).count({ n: '*' });
    return Number(r?.n ?? 0) >= 50;
  }, 'the warm-up messages to be sent', 60_000);
}

/** The same Kannel by itself: E2E sendsms, 64 at a time, dlr-mask=31 to a bare HTTP server that only counts DLRs. */
async function kannelAlone(kannel: Kannel): Promise<number> {
  let finals = 0;
  const srv = http.createServer((req, res) => {
    if (/type=(1|2|16)\b/.test(req.url ?? '')) finals++;
    res.end('ok');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const agent = new Agent({ connections: 64 });
  const cpu0 = cpuNow(kannelProcesses(kannel));
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < E2E) {
      const i = next++;
      const q = new URLSearchParams({
        username: kannel.username, password: kannel.password, from: 'Bench', to: `7998${String(1000000 + i)}`, text: 'Your order is ready',
        'dlr-mask': '31', 'dlr-url': `http://127.0.0.1:${port}/dlr/${i}?type=%d`,
      });
      await (await request(`${kannel.url}/cgi-bin/sendsms?${q}`, { dispatcher: agent })).body.text();
    }
  }));
  await eventually(() => finals >= E2E, 'every final DLR', 600_000);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuPerMessage(cpu0, cpuNow(kannelProcesses(kannel)), E2E);
  row('Kannel 1.4.5 by itself: sendsms to the last final DLR', `${E2E} msgs, 64 in flight`, (E2E / elapsed).toFixed(0), '', '',
    `${elapsed.toFixed(1)} s; the ceiling of the line below. CPU ms per message: ${cpu.text.replace('bench', 'driver + DLR counter')}`);
  await agent.close();
  srv.close();
  return cpu.per.Kannel!;
}

/**
 * handler → Kannel → DLRs → `delivered` in Bitrix24, for E2E messages offered at 2,000/s, spread over `portals`
 * portals (each its own Bitrix24 with its own REST bucket; the service and the Kannel account are shared).
 */
async function endToEnd(kannel: Kannel, kannelCpu: number, portals = 1) {
  const install = { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'Bench' };
  const svc = await startServiceProcess({
    install, env: { ALLOW_PRIVATE_GATEWAYS: '1' },
    // 64 requests in flight at Kannel: an account with messages in flight may not take the last quarter of the
    // worker's slots (kept for portals that have nothing in flight, see slots.ts): 85 − ⌊85 / 4⌋ = 64.
    serviceEnv: { GATEWAY_CONCURRENCY: '64', WORKER_CONCURRENCY: '85', REPORT_LINGER: '500ms', LOG_LEVEL: 'warn', ...serviceNodeOptions },
  });
  const fps = [svc.fp];
  while (fps.length < portals) {
    const fp = await svc.fake.addPortal();
    await installPortal(svc.ctx, svc.fake, fp, install);
    fps.push(fp);
  }
  const handlerOf = (fp: FakePortal) => {
    const h = new URL([...fp.senders.values()][0]!.HANDLER);
    return `${svc.url}${h.pathname}${h.search}`;
  };
  const callsBefore = fps.map((fp) => fp.calls.length);
  const tag = `e${++prefix}x`;
  const offered = 2000;
  const idOf = (i: number) => `${tag}${String(i).padStart(24, '0')}`;
  // Bitrix24 creates each message before its queue posts it; status.update finds no other. Message i is portal i mod n's.
  for (let i = 0; i < E2E; i++) fps[i % portals]!.messages.set(idOf(i), { code: 'smsgw_bench', authorId: 1 });
  await warmUp(svc);
  const named = new Map([...serviceProcesses(svc.web.pid!), ...kannelProcesses(kannel)]);
  const cpu0 = cpuNow(named);
  let cpuOurs: Map<string, number> | undefined;
  const started = performance.now();
  const l = await runLoad(['open', fps.map(handlerOf).join(','), String(offered), String(E2E / offered), fps.map((fp) => fp.memberId).join(','),
    fps.map((fp) => fp.applicationToken).join(','), tag]);
  const ids = Array.from({ length: l.total }, (_, i) => idOf(i));
  let peak: number[] = [];
  let ours: number | undefined; // every message delivered in our database (its report may still wait for Bitrix24's bucket)
  await eventually(async () => {
    const now = nodeRssMb(svc.web.pid!);
    if (now.reduce((a, b) => a + b, 0) > peak.reduce((a, b) => a + b, 0)) peak = now;
    if (ours === undefined) {
      const [row] = await svc.ctx.db('messages').where('b24_message_id', 'like', `${tag}%`).andWhere({ state: 'delivered' }).count({ n: '*' });
      if (Number(row?.n ?? 0) >= ids.length) {
        ours = (performance.now() - started) / 1000;
        cpuOurs = cpuNow(named);
      }
    }
    return ids.every((id, i) => fps[i % portals]!.shown.get(id) === 'delivered');
  }, 'all delivered', 600_000);
  const elapsed = (performance.now() - started) / 1000;
  const batches = fps.reduce((n, fp, k) => n + fp.calls.slice(callsBefore[k]).filter((c) => c.method === 'batch' && !c.batched).length, 0);
  const limitHits = fps.reduce((n, fp) => n + fp.limitHits, 0);
  const load = `${ids.length} msgs offered at ${offered}/s${portals > 1 ? `, ${portals} portals` : ''}, 64 in flight`;
  if (portals === 1) {
    row('end to end via Kannel: delivered in our database', load, (ids.length / (ours ?? elapsed)).toFixed(0), '', '',
      `${(ours ?? elapsed).toFixed(1)} s from the first handler call to the last DLR applied. CPU ms per message: ${cpuText(cpu0, cpuOurs ?? cpuNow(named), ids.length, l.cpuS, kannelCpu)}`);
    row('end to end via Kannel: delivered in Bitrix24', `${ids.length} statuses, one portal`, (ids.length / elapsed).toFixed(0), '', '',
      `${elapsed.toFixed(1)} s to all shown delivered: 50 statuses a batch call, the portal's bucket (burst 50, 2 calls/s) allows ~100 statuses/s after the first 2,500; ${l.errors} intake errors; peak RSS web + worker ${mb(peak)}`);
    row('Bitrix24 REST calls per reported status', `${ids.length} statuses`, '', '', '', `${(batches / ids.length).toFixed(3)} (${batches} batch calls, ${limitHits} limit hits)`);
  } else {
    row(`end to end via Kannel, ${portals} portals: delivered in Bitrix24`, load, (ids.length / elapsed).toFixed(0), '', '',
      `${elapsed.toFixed(1)} s to all shown delivered (in our database after ${(ours ?? elapsed).toFixed(1)} s); each portal's ${ids.length / portals} statuses fit its bucket's burst; ${batches} batch calls, ${limitHits} limit hits; ${l.errors} intake errors`);
  }
  await svc.close();
}

/**
 * What the end-to-end figure costs in CPU per message, by process, and the rate the machine's cores allow at that
 * cost (everything on one machine: the service, Kannel, the generator, the fake Bitrix24 in the bench's process).
 */
function cpuText(before: Map<string, number>, after: Map<string, number>, messages: number, generatorS: number, kannelAloneMs: number) {
  const c = cpuPerMessage(before, after, messages, { generator: generatorS });
  const ours = (c.per.web ?? 0) + (c.per.worker ?? 0);
  return `${c.text.replace('bench', 'fake Bitrix24 + polling')}; at that cost ${cores} cores allow ${((cores * 1000) / c.total).toFixed(0)} msgs/s` +
    ` (with our share at zero: ${((cores * 1000) / (c.total - ours)).toFixed(0)}); Kannel by itself took ${kannelAloneMs.toFixed(2)} ms`;
}

/**
 * The same intake with 1,000,000 messages already stored (a year of a busy portal), alternated with a service on an
 * empty database in the same part: the intake part's figure was measured minutes earlier, and this machine's speed
 * moves more than 20 % between the two (the same service measured 0.77× and 1.0× of it in two runs).
 */
async function intakeAtScale() {
  const empty = await startServiceProcess({ env: { WORKER_ENABLED: '0' }, install: smsruInstall, serviceEnv: serviceNodeOptions });
  const svc = await startServiceProcess({ env: { WORKER_ENABLED: '0' }, install: smsruInstall, serviceEnv: serviceNodeOptions });
  try {
    await svc.kill(svc.web);
    const t0 = performance.now();
    // A month of a busy portal: 9 in 10 delivered, 1 in 10 failed with a reason, every row with its text.
    const cols = 'portal_id, b24_message_id, code, message_to, phone, body, state, is_test, next_attempt_at, created_at, updated_at, final_at, gateway, gateway_message_id, failure_reason';
    const values = (x: string, bool: string) => `?, 'old' || ${x}, 'smsgw_bench', '+79990000000', '+79990000000', 'Your order is ready',
      CASE WHEN ${x} % 10 = 0 THEN 'failed' ELSE 'delivered' END, ${bool}, ?, ? + ${x} * 2, ? + ${x} * 2, ? + ${x} * 2, 'smsru', 'gw' || ${x},
      CASE WHEN ${x} % 10 = 0 THEN 'no route' END`;
    const old = Date.now() - 30 * 86_400_000;
    const binds = [svc.portal.id, old, old, old, old];
    if (process.env.TEST_DATABASE_URL) {
      await svc.ctx.db.raw(`INSERT INTO messages (${cols}) SELECT ${values('g', 'false')} FROM generate_series(1, 1000000) g`, binds);
      await svc.ctx.db.raw('ANALYZE messages');
    } else {
      // No ANALYZE: a SQLite file in the field has no statistics either.
      await svc.ctx.db.raw(`WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000000) INSERT INTO messages (${cols}) SELECT ${values('x', '0')} FROM g`, binds);
    }
    const seeded = (performance.now() - t0) / 1000;
    const again = svc.run('start', { ADMIN_PASSWORD: 'bench-operator-password' });
    await svc.up();
    const pages = await consoleTimes(svc.url);
    const e: Load[] = [];
    const h: Load[] = [];
    let rss: number[] = [];
    await closedLoad(empty.handlerUrl, 64, empty, undefined, WARM_CLOSED);
    await closedLoad(svc.handlerUrl, 64, svc, undefined, WARM_CLOSED);
    // Each goes first in turn (ABBA…): a service measured right after the other finds the machine as it left it.
    for (let r = 0; r < ROUNDS; r++) {
      const emptyRun = async () => e.push(await closedLoad(empty.handlerUrl, 64, empty));
      const fullRun = async () => {
        const [l, peak] = await peakRss([again.pid!], closedLoad(svc.handlerUrl, 64, svc));
        h.push(l);
        rss = maxEach(rss, peak);
      };
      for (const run of r % 2 === 0 ? [emptyRun, fullRun] : [fullRun, emptyRun]) await run();
    }
    const [em, hm] = [median(e.map(rate)), median(h.map(rate))];
    row('POST /handler with 1,000,000 messages stored', 'closed loop, 64 conns', hm.toFixed(0), median(h.map((l) => l.p50)).toFixed(1), median(h.map((l) => l.p99)).toFixed(1),
      `${(hm / em).toFixed(2)}× an empty database, alternated (${e.map((l) => rate(l).toFixed(0)).join(', ')}); runs: ${h.map((l) => rate(l).toFixed(0)).join(', ')}; seeded in ${seeded.toFixed(0)} s; peak RSS ${mb(rss)}`);
    row('operator console with 1,000,000 messages stored', 'GET /admin, 5 times', '', pages.p50.toFixed(0), pages.max.toFixed(0), 'p99 column: the slowest of 5');
    // The send worker on the same database, working through what the runs above queued (to the fake SMS.ru).
    const [queued] = await svc.ctx.db('messages').where({ state: 'queued' }).count({ n: '*' });
    const backlog = Number(queued?.n ?? 0);
    const takenBefore = svc.smsru.messages.size;
    const worker = svc.run('worker');
    const t1 = performance.now();
    const [, wrss] = await peakRss([worker.pid!], eventually(() => svc.smsru.messages.size - takenBefore >= backlog, 'the backlog sent', WORKER_SECONDS * 1000).catch(() => {}));
    const took = (performance.now() - t1) / 1000;
    const sent = svc.smsru.messages.size - takenBefore;
    row('send worker with 1,000,000 messages stored', `${backlog} queued by the rows above`, (sent / took).toFixed(0), '', '',
      `${sent} sent to the fake SMS.ru (100 a call) in ${took.toFixed(1)} s from \`npm run worker\`'s start; peak RSS ${mb(wrss)}`);
  } finally {
    await empty.close();
    await svc.close();
  }
}

/** The operator console's main page (portals, figures, queue health, the hourly chart), as the operator opens it. */
async function consoleTimes(url: string) {
  const login = await fetch(`${url}/admin/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'password=bench-operator-password' });
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/admin`, { headers: { cookie } });
    await res.text();
    if (res.status !== 200) throw new Error(`GET /admin answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return { p50: median(times), max: Math.max(...times) };
}

/** Two web processes on one PostgreSQL, 32 connections each, at the same time. */
async function intakeOnPostgres(sqlite: number) {
  const svc = await startServiceProcess({ env: { WORKER_ENABLED: '0' }, install: smsruInstall, serviceEnv: serviceNodeOptions });
  const port2 = await freePort();
  const second = svc.run('start', { PORT: String(port2) });
  await eventually(async () => (await fetch(`http://127.0.0.1:${port2}/healthz`).catch(() => undefined))?.ok === true, 'the second web process', 60_000);
  const url2 = svc.handlerUrl.replace(new URL(svc.url).host, `127.0.0.1:${port2}`);
  const sums: number[] = [];
  const p99s: number[] = [];
  let rss: number[] = [];
  await Promise.all([closedLoad(svc.handlerUrl, 32, svc, undefined, WARM_CLOSED), closedLoad(url2, 32, svc, undefined, WARM_CLOSED)]);
  for (let r = 0; r < ROUNDS; r++) {
    const [[a, b], peak] = await peakRss([svc.web.pid!, second.pid!], Promise.all([closedLoad(svc.handlerUrl, 32, svc), closedLoad(url2, 32, svc)]));
    rss = maxEach(rss, peak);
    sums.push(rate(a) + rate(b));
    p99s.push(Math.max(a.p99, b.p99));
  }
  const m = median(sums);
  row('POST /handler on PostgreSQL, two web processes', '2 × 32 conns, closed loop', m.toFixed(0), '', median(p99s).toFixed(1),
    `${(m / sqlite).toFixed(2)}× SQLite's single process; runs: ${sums.map((x) => x.toFixed(0)).join(', ')}; peak RSS ${mb(rss)}`);
  await svc.close();
}

const cpus = os.cpus();
console.log(`machine: ${cpus.length} × ${cpus[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}`);
if (!kannelInstalled()) {
  console.log('Kannel is not installed (apt-get install kannel kannel-extras): the bench compares against it and cannot run without it');
  process.exit(1);
}
const kannel = await startKannel();
let sqlite = 0;
await withDatabase(undefined, async () => {
  if (runs('intake')) sqlite = await intakeVsKannel(kannel);
  if (runs('latency')) await latencyUnderSending();
  if (runs('e2e')) {
    const kannelCpu = await kannelAlone(kannel);
    await endToEnd(kannel, kannelCpu);
    await endToEnd(kannel, kannelCpu, 10);
  }
  if (runs('scale')) await intakeAtScale();
});
if (PG_URL && runs('intake')) await withDatabase(PG_URL, () => intakeOnPostgres(sqlite));
else if (!PG_URL) row('POST /handler on PostgreSQL, two web processes', '', '', '', '', 'skipped: set BENCH_PG_URL=postgres://…');
await kannel.stop();

const head = ['benchmark', 'load', 'req/s or msgs/s', 'p50 ms', 'p99 ms', 'notes'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
process.exit(0);
