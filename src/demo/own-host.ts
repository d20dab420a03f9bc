import type http from 'node:http';

/**
 * Listening on 127.0.0.1 keeps other machines out, not web pages: a page the visitor opens can rebind its own name
 * to 127.0.0.1 (DNS rebinding) and then read the demo's pages as same-origin, among them fresh administrator tokens
 * (the frame's POST) and the console password. Such a request still carries the page's name as Host, so every demo
 * listener answers only requests addressed to itself (127.0.0.1 or localhost, and the port the request came in on)
 * and refuses the rest with 421 Misdirected Request. `npm start`'s service is behind no such rule.
 */
export function ownHostOnly(listener: http.RequestListener): http.RequestListener {
  return (req, res) => {
    const host = req.headers.host?.toLowerCase();
    const port = req.socket.localPort;
    if (host === `127.0.0.1:${port}` || host === `localhost:${port}`) return listener(req, res);
    res.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`This demo answers at http://127.0.0.1:${port} only.\n`);
  };
}
