import type { ServerResponse } from 'node:http';
import type { Log } from '../platform/logger.js';
import { errorAnswer } from './error-handler.js';

/**
 * Answers for the routes served on node's own request and response, off express (the hot ones: /handler and
 * Kannel's delivery reports): the same headers and the same JSON errors as every express route's.
 */
export function rawAnswers(headers: Array<[string, string]>, log: Log) {
  function send(res: ServerResponse, status: number, type: string, text: string, close = false) {
    res.statusCode = status;
    for (const [k, v] of headers) res.setHeader(k, v);
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    if (close) res.setHeader('Connection', 'close'); // the rest of a refused body is not read
    res.end(text);
  }
  const json = (res: ServerResponse, status: number, body: unknown, close = false) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), close);
  const text = (res: ServerResponse, status: number, body: string) => send(res, status, 'text/plain; charset=utf-8', body);

  /** An error as JSON (4xx say what was wrong, 5xx nothing internal); a response already under way is cut. */
  function error(res: ServerResponse, err: unknown, path: string, close = false) {
    if (res.headersSent) return void res.destroy();
    const { status, body } = errorAnswer(err, log, path);
    if (typeof body.retryAfterS === 'number') res.setHeader('Retry-After', String(body.retryAfterS));
    json(res, status, body, close);
  }
  return { json, text, error };
}
