/**
 * The floor under any Node.js intake: node's own HTTP server that reads the form and answers what /handler answers,
 * doing nothing else (no parsing, no database). Run by `npm run bench` in its own process; prints its port.
 */
import http from 'node:http';

const answer = JSON.stringify({ status: 'queued' });
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume(); // the bench that started it is gone
