import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { createHttpServer } from '../src/web/app.js';
import { createTestContext, type TestContext } from './helpers/app.js';

/**
 * Clients that send slowly or stop in the middle (slowloris, a body that never ends) lose their connection at the
 * server's deadline: without one, node keeps such a request 5 minutes, with up to 1 MB of its body read.
 */
let ctx: TestContext;
let server: http.Server;
let port: number;
beforeAll(async () => {
  ctx = await createTestContext();
  server = createHttpServer(ctx.app, { headersTimeoutMs: 300, requestTimeoutMs: 600 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await ctx.close();
});

/** Writes `text` and waits (at most 10 s) for the server to close the connection; what it answered, and how long it took. */
function stallWith(text: string): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the connection was still open after 10 s; answered: ${JSON.stringify(answer)}`));
    }, 10_000);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('error', () => undefined); // a reset counts as closed
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ answer, ms: performance.now() - started });
    });
  });
}

describe('slow clients', () => {
  it('a /handler body that stops before its Content-Length is answered 408 and its connection closed at the request deadline', async () => {
    const head = `POST /handler HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n`;
    const { answer, ms } = await stallWith(`${head}message_id=abc&message_to=`);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeGreaterThanOrEqual(500);
  });

  it('headers that never end lose the connection at the headers deadline', async () => {
    const { answer, ms } = await stallWith('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    expect(answer === '' || answer.startsWith('HTTP/1.1 408 ')).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(250);
  });
});
