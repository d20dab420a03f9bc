/**
 * A/B of the intake: `npm start` of two checkouts (BENCH_AB_BASE=/path as A; BENCH_AB_NEW=/path as B, this one
 * without it), both running, the same closed-loop load alternated between them; per round req/s and the web
 * process's CPU ms a request, then medians and B/A. A checkout needs its node_modules (a symlink to this one's will
 * do). Put both outside this directory when comparing: one run of A against this very checkout as B gave B 1.28×.
 * BENCH_AB_ENV_A / BENCH_AB_ENV_B give one side extra variables (the same checkout twice, with and without a setting).
 * Usage: BENCH_AB_BASE=/tmp/base BENCH_AB_NEW=/tmp/new tsx bench/ab-intake.ts [rounds]
 */
import { cpuSeconds, processTree, startServiceProcess } from '../test/helpers/service-process.js';
import { runLoad } from './load-runner.js';

const base = process.env.BENCH_AB_BASE!;
const rounds = Number(process.argv[2] ?? 5);
const install = { provider: 'smsru', api_key: 'bench-key', sender: 'Bench' };
/** BENCH_AB_ENV_A / BENCH_AB_ENV_B: extra variables for one side's service (`NAME=value,NAME=value`). */
const envOf = (v: string | undefined) => Object.fromEntries((v ? v.split(',') : []).map((kv) => kv.split('=') as [string, string]));
const svcs = {
  A: await startServiceProcess({ env: { WORKER_ENABLED: '0', ...envOf(process.env.BENCH_AB_ENV_A) }, install, cwd: base }),
  B: await startServiceProcess({ env: { WORKER_ENABLED: '0', ...envOf(process.env.BENCH_AB_ENV_B) }, install, cwd: process.env.BENCH_AB_NEW }),
};
let prefix = 0;
const load = (s: typeof svcs.A, seconds: number) => runLoad(['closed', s.handlerUrl, '64', String(seconds), s.fp.memberId, s.fp.applicationToken, `ab${++prefix}x`]);
const res: Record<string, { rate: number; cpu: number; p99: number }[]> = { A: [], B: [] };
for (const k of ['A', 'B'] as const) await load(svcs[k], 3);
for (let r = 0; r < rounds; r++) {
  for (const k of (r % 2 ? ['B', 'A'] : ['A', 'B']) as Array<'A' | 'B'>) {
    const pids = processTree(svcs[k].web.pid!);
    const before = pids.reduce((s, p) => s + cpuSeconds(p), 0);
    const l = await load(svcs[k], 5);
    const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - before;
    const ok = l.total - l.errors;
    res[k]!.push({ rate: ok / l.elapsed, cpu: (cpu * 1000) / ok, p99: l.p99 });
    console.log(`round ${r} ${k}: ${(ok / l.elapsed).toFixed(0)} req/s, web ${((cpu * 1000) / ok).toFixed(3)} ms/req, p99 ${l.p99.toFixed(1)}, errors ${l.errors}`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const k of ['A', 'B']) console.log(`${k}: median ${med(res[k]!.map((x) => x.rate)).toFixed(0)} req/s, web ${med(res[k]!.map((x) => x.cpu)).toFixed(3)} ms/req`);
console.log(`B/A rate ${(med(res.B!.map((x) => x.rate)) / med(res.A!.map((x) => x.rate))).toFixed(3)}, cpu ${(med(res.B!.map((x) => x.cpu)) / med(res.A!.map((x) => x.cpu))).toFixed(3)}`);
await svcs.A.close();
await svcs.B.close();
