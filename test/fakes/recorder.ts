import { listen, readBody, send } from './http-util.js';

/** A server that should never be reached (an attacker's, or an internal one): it records every request it gets. */
export async function startRecorder(answer: { status: number; body: string } = { status: 200, body: 'internal secret page' }) {
  const requests: Array<{ method: string; url: string; body: string }> = [];
  const srv = await listen(async (req, res) => {
    const { raw } = await readBody(req);
    requests.push({ method: req.method ?? '', url: req.url ?? '', body: raw });
    send(res, answer.status, answer.body);
  });
  return { url: `http://127.0.0.1:${srv.port}`, requests, close: srv.close };
}
