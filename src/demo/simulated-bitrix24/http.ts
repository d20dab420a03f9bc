import http from 'node:http';
import type { AddressInfo } from 'node:net';
import qs from 'qs';

export type Json = Record<string, any>;

export async function readBody(req: http.IncomingMessage): Promise<{ raw: string; fields: Json }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('application/json')) return { raw, fields: raw ? JSON.parse(raw) : {} };
  return { raw, fields: qs.parse(raw, { depth: 10, arrayLimit: 100 }) as Json };
}

export function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
  res.end(text);
}

/** Starts a server on 127.0.0.1 with a free port. */
export async function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { server, port, close };
}
