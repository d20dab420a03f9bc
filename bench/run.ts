/**
 * `npm run bench`: prints a table of
 *  - handler intake: messages/s and p50/p99 latency at fixed offered loads (open loop: requests start on schedule);
 *  - end to end to `delivered` through a real Kannel: messages/s;
 *  - Bitrix24 REST calls per reported status.
 * Everything runs on 127.0.0.1: the app, a fake Bitrix24 with Bitrix24's real limits, Kannel with fakesmsc.
 * TEST_DATABASE_URL=postgres://… runs it on PostgreSQL instead of SQLite.
 */
import os from 'node:os';
import { spawn } from 'node:child_process';
import { installedPortal } from '../test/helpers/installed-portal.js';
import { kannelInstalled, startKannel } from '../test/helpers/kannel.js';
import { eventually } from '../test/helpers/wait.js';

function runLoad(args: string[]): Promise<{ total: number; elapsed: number; errors: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load exited ${code}`))));
  });
}
const rows: string[][] = [];
const row = (...cells: Array<string | number>) => rows.push(cells.map(String));

async function intake(rate: number, seconds: number) {
  const { fp, ctx, close } = await installedPortal({ listening: true, env: { WORKER_ENABLED: '0' }, install: { provider: 'smsru', api_key: 'bench-key', sender: 'Bench' } });
  const handler = fp.senders.get('smsgw_bench')!.HANDLER;
  const result = await runLoad([handler, String(rate), String(seconds), fp.memberId, fp.applicationToken, `r${rate}x`]);
  const { total, elapsed, errors, p50, p99 } = result;
  const stored = Number((await ctx.db('messages').count({ n: '*' }))[0]!.n);
  row('handler intake', `${rate}/s offered, ${total} msgs`, (stored / elapsed).toFixed(0), p50.toFixed(2), p99.toFixed(2), errors ? `${errors} errors, ${stored} stored` : `${stored} stored`);
  await close();
}

async function endToEnd(n: number, concurrency: number) {
  const kannel = await startKannel();
  // The bench's Kannel runs on 127.0.0.1, as a single company's own gateway would.
  const { fake, fp, ctx, close } = await installedPortal({
    listening: true, env: { GATEWAY_CONCURRENCY: String(concurrency), REPORT_LINGER: '500ms', ALLOW_PRIVATE_GATEWAYS: '1' },
    install: { provider: 'kannel', kannel_url: kannel.url, kannel_username: kannel.username, kannel_password: kannel.password, sender: 'Bench' },
  });
  const callsBefore = fp.calls.length;
  ctx.deps.worker.start();
  ctx.deps.reporter.start();
  const started = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, j) => fake.dispatchSms(fp, { code: 'smsgw_bench', to: `+7999${String(1000000 + i + j)}`, text: 'Your order is ready' })),
    );
    ids.push(...batch.map((b) => b.id));
  }
  await eventually(() => ids.every((id) => fp.shown.get(id) === 'delivered'), 'all delivered', 300_000);
  const elapsed = (performance.now() - started) / 1000;
  const batches = fp.calls.slice(callsBefore).filter((c) => c.method === 'batch' && !c.batched).length;
  row('end to end via Kannel', `${n} msgs, GATEWAY_CONCURRENCY=${concurrency}`, (n / elapsed).toFixed(0), '', '', `${elapsed.toFixed(1)} s to all delivered in Bitrix24`);
  row('Bitrix24 REST calls', `${n} statuses reported`, '', '', '', `${(batches / n).toFixed(3)} calls/status (${batches} batch calls, ${fp.limitHits} limit hits)`);
  await close();
  await kannel.stop();
}

const cpus = os.cpus();
console.log(`machine: ${cpus.length} × ${cpus[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, database: ${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'}`);
await intake(200, 5);
await intake(500, 5);
await intake(1000, 5);
if (kannelInstalled()) for (const c of [8, 32]) await endToEnd(1000, c);
else console.log('(Kannel not installed: end-to-end rows skipped; apt-get install kannel kannel-extras)');

const head = ['benchmark', 'load', 'msgs/s', 'p50 ms', 'p99 ms', 'notes'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'));
process.exit(0);
