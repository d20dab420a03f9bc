/**
 * Load for /handler (or Kannel's sendsms), run as its own process so that the client does not share the server's
 * event loop. Prints one JSON line.
 *  open   url rate seconds memberId applicationToken idPrefix   request i starts at i/rate s, whatever the others do;
 *         latencies of the first `warmSeconds` (an 8th argument, 1 by default: JIT, connections) are left out
 *  closed url connections seconds memberId applicationToken idPrefix   each connection sends its next request when
 *         the previous answer is in (`memberId` = "-" sends Kannel's `GET /cgi-bin/sendsms`, user:pass in the token)
 * Several portals: url, memberId and applicationToken as comma-separated lists of one length; request i goes to
 * portal i mod n.
 */
import { Agent, request } from 'undici';
import { smsForm } from '../test/fakes/sms-body.js';

const [mode, urlArg, nArg, secondsArg, memberArg, tokenArg, prefix, warmArg] = process.argv.slice(2);
const [urls, members, tokens] = [urlArg!, memberArg!, tokenArg!].map((a) => a.split(','));
const seconds = Number(secondsArg);
const agent = new Agent({ connections: mode === 'closed' ? Number(nArg) : 128, pipelining: 1 });
const latencies: number[] = [];
let errors = 0;
let sent = 0;

/**
 * Each request's URL or body is built once per portal with placeholders, then only the message id and the number are
 * put in: the generator shares the two cores with what it measures, so the less it spends per request, the less it
 * takes from either side (Kannel's query and our form alike).
 */
const ID = 'XXIDXX';
const TO = 'XXTOXX';
const formValue = (v: string) => new URLSearchParams({ v }).toString().slice(2);
const templates = urls!.map((url, k) => {
  const [memberId, appToken] = [members![k]!, tokens![k]!];
  if (memberId === '-') {
    const [user, pass] = appToken.split(':');
    return { method: 'GET' as const, url, text: `${url}?${new URLSearchParams({ username: user!, password: pass!, from: 'Bench', to: TO, text: 'Your order is ready' })}` };
  }
  return { method: 'POST' as const, url, text: smsForm({ portal: { memberId, applicationToken: appToken }, code: 'smsgw_bench', id: ID, to: TO, text: 'Your order is ready' }) };
});

function one(i: number) {
  const t = templates[i % templates.length]!;
  const n = String(1000000 + (i % 8999999)); // each its own number
  if (t.method === 'GET') return { method: t.method, path: t.text.replace(TO, `7999${n}`), body: undefined, headers: {} };
  const to = formValue(`+7 (999) ${n.replace(/^(\d{3})(\d{2})(\d{2})$/, '$1-$2-$3')}`);
  const body = t.text.replace(ID, `${prefix}${String(i).padStart(24, '0')}`).replaceAll(TO, to); // message_to and properties[phone_number]
  return { method: t.method, path: t.url, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
}

// Open loop: the first second(s) warm up both sides (JIT, connections) and are not measured.
const measureFrom = mode === 'open' ? Number(nArg) * Number(warmArg ?? 1) : 0;

let fired = 0;
async function fire(i: number) {
  fired++;
  const r = one(i);
  const t0 = performance.now();
  try {
    const res = await request(r.path, { method: r.method, headers: r.headers, body: r.body, dispatcher: agent });
    await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) errors++;
  } catch {
    errors++;
  }
  if (i >= measureFrom) latencies.push(performance.now() - t0);
}

const started = performance.now();
const cpuAtStart = process.cpuUsage(); // what loading tsx and undici took is not the load's
if (mode === 'open') {
  // One scheduler tick per millisecond fires every request that is due, so the generator holds no timer per request.
  const rate = Number(nArg);
  const total = rate * seconds;
  const running: Promise<void>[] = [];
  let next = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
      while (next < due) running.push(fire(next++));
      if (next < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(running);
} else {
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: Number(nArg) }, async () => {
      while (performance.now() < until) await fire(sent++);
    }),
  );
}
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
const cpu = process.cpuUsage(cpuAtStart); // the generator's own CPU, for the bench's CPU-per-message figures
console.log(JSON.stringify({ total: fired, elapsed, errors, p50: pct(50), p99: pct(99), cpuS: (cpu.user + cpu.system) / 1e6 }));
await agent.close();
