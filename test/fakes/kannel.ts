import type http from 'node:http';
import { listen } from './http-util.js';

/**
 * A fake Kannel smsbox (gateways.md §2: cgi-bin/sendsms answers 202 / 400 missing receiver / 403 bad login), or
 * any misbehaving server at a gateway address: a fixed answer, a trickle (headers, then one byte per interval),
 * or a huge body. It records what reached it and whether each connection closed before the answer was complete.
 */
export type KannelBehaviour =
  | { kind: 'kannel' }
  | { kind: 'answer'; status: number; body: string }
  | { kind: 'trickle'; status: number; everyMs: number; bytes: number }
  | { kind: 'huge'; status: number; bytes: number };

export interface KannelRequest {
  path: string;
  host: string;
  params: Record<string, string>;
}

export async function startFakeKannel(opts: { username?: string; password?: string; behaviour?: KannelBehaviour } = {}) {
  const username = opts.username ?? 'tester';
  const password = opts.password ?? 'foobar';
  let behaviour: KannelBehaviour = opts.behaviour ?? { kind: 'kannel' };
  const requests: KannelRequest[] = [];
  const answers = { complete: 0, cutShort: 0, bytesWritten: 0 };
  const timers = new Set<NodeJS.Timeout>();

  /** Writes `total` bytes in 64 KiB chunks with backpressure; stops when the client goes away. */
  function writeHuge(res: http.ServerResponse, total: number) {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let left = total;
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        answers.bytesWritten += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      if (left === 0 && !res.destroyed) res.end();
    };
    pump();
  }

  function trickle(res: http.ServerResponse, everyMs: number, bytes: number) {
    let left = bytes;
    const tick = () => {
      if (res.destroyed) return;
      if (left-- <= 0) return void res.end();
      answers.bytesWritten++;
      res.write('.');
      const t = setTimeout(() => {
        timers.delete(t);
        tick();
      }, everyMs);
      timers.add(t);
    };
    tick();
  }

  const srv = await listen((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push({ path: url.pathname, host: String(req.headers.host ?? ''), params: Object.fromEntries(url.searchParams) });
    res.on('close', () => (res.writableFinished ? answers.complete++ : answers.cutShort++));
    const b = behaviour;
    if (b.kind === 'answer') return void res.writeHead(b.status, { 'content-type': 'text/plain' }).end(b.body);
    if (b.kind === 'trickle') {
      res.writeHead(b.status, { 'content-type': 'text/plain' });
      return trickle(res, b.everyMs, b.bytes);
    }
    if (b.kind === 'huge') {
      res.writeHead(b.status, { 'content-type': 'text/plain' }); // no length: chunked, as a misbehaving server would
      return writeHuge(res, b.bytes);
    }
    const p = Object.fromEntries(url.searchParams);
    if (url.pathname !== '/cgi-bin/sendsms') return void res.writeHead(404).end('Not found');
    if (p.username !== username || p.password !== password) return void res.writeHead(403).end('Authorization failed for sendsms');
    if (!p.to) return void res.writeHead(400).end('Missing receiver number for sendsms');
    res.writeHead(202).end('0: Accepted for delivery');
  });

  return {
    url: `http://127.0.0.1:${srv.port}`,
    port: srv.port,
    username,
    password,
    requests,
    answers,
    /** sendsms calls that carried a receiver (an SMS would have gone out). */
    get sends() {
      return requests.filter((r) => r.path === '/cgi-bin/sendsms' && r.params.to).length;
    },
    setBehaviour(next: KannelBehaviour) {
      behaviour = next;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await srv.close();
    },
  };
}

export type FakeKannel = Awaited<ReturnType<typeof startFakeKannel>>;
