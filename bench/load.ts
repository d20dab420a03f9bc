/**
 * Open-loop load for /handler, run as its own process so that the client does not share the server's event
 * loop: request i starts at i/rate seconds whatever the previous ones are doing. Prints one JSON line.
 * Arguments: handlerUrl rate seconds memberId applicationToken idPrefix
 */
import { Agent, request } from 'undici';
import { smsForm } from '../test/fakes/sms-body.js';

const [url, rateArg, secondsArg, memberId, appToken, prefix] = process.argv.slice(2);
const rate = Number(rateArg);
const total = rate * Number(secondsArg);
const agent = new Agent({ connections: 128 });
const latencies: number[] = [];
let errors = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: total }, async (_, i) => {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const body = smsForm({
      portal: { memberId: memberId!, applicationToken: appToken! }, code: 'smsgw_bench', id: `${prefix}${String(i).padStart(24, '0')}`,
      to: '+7 (999) 123-45-67', text: 'Your order is ready',
    });
    const t0 = performance.now();
    try {
      const res = await request(url!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, dispatcher: agent });
      await res.body.text();
      if (res.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    latencies.push(performance.now() - t0);
  }),
);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
console.log(JSON.stringify({ total, elapsed, errors, p50: pct(50), p99: pct(99) }));
await agent.close();
