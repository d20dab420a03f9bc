import type { ErrorRequestHandler } from 'express';
import { AppError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';

const size = (bytes: number) => (bytes >= 1 << 20 ? `${+(bytes / (1 << 20)).toFixed(1)} MB` : `${+(bytes / 1024).toFixed(1)} kB`);

/** What a body-parser error (it carries `status` and `type`) tells the caller. */
function parserAnswer(err: { status: number; type: string; limit?: number }): { error: string; message: string } {
  switch (err.type) {
    case 'entity.too.large':
      return { error: 'payload_too_large', message: typeof err.limit === 'number' ? `the body is larger than ${size(err.limit)}` : 'the body is too large' };
    case 'parameters.too.many':
      return { error: 'too_many_fields', message: 'the form has too many fields' };
    case 'querystring.parse.rangeError':
      return { error: 'invalid_body', message: 'the form nests fields too deeply' };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { error: 'unsupported_media_type', message: 'the body has an unsupported charset or content encoding' };
    default:
      return { error: 'invalid_body', message: 'the body could not be parsed' };
  }
}

/**
 * The path as logged: a delivery report's URL carries its portal's secret (/dlr/<gateway>/<portal>/<secret>/…), which
 * must not reach the logs with the error.
 */
export const loggedPath = (path: string) => path.replace(/^(\/dlr\/[^/]+\/[^/]+\/)[^/]+/i, '$1[redacted]');

/**
 * What another library's 4xx error tells the caller: the router's "Failed to decode param" (a malformed %-escape in
 * the path) is a URIError with status 400 and no `type`. Its message quotes the path, which may carry a secret.
 */
const clientAnswer = (err: unknown) => ({ error: 'bad_request', message: err instanceof URIError ? 'malformed URL' : 'the request could not be handled' });

/** The one answer to an error: 4xx say what was wrong, 5xx say nothing internal. */
export function errorAnswer(err: any, log: Log, rawPath: string): { status: number; body: Record<string, unknown> } {
  const path = loggedPath(rawPath);
  const parserStatus = typeof err?.status === 'number' && typeof err?.type === 'string' ? (err.status as number) : undefined;
  const status = err?.status ?? err?.statusCode;
  const clientStatus = !(err instanceof AppError) && Number.isInteger(status) && status >= 400 && status <= 499 ? (status as number) : undefined;
  if (err instanceof AppError && err.expose) {
    // An overload refusal that says when to come back (Retry-After) is counted where it is made, not logged each time.
    if (err.status >= 500 && err.details?.retryAfterS === undefined) log.warn({ code: err.code, path }, 'http.error');
    return { status: err.status, body: { error: err.code, message: err.message, ...(err.details ?? {}) } };
  }
  if (parserStatus && parserStatus < 500) return { status: parserStatus, body: parserAnswer(err) };
  if (clientStatus) {
    log.info({ status: clientStatus, path }, 'http.client_error');
    return { status: clientStatus, body: clientAnswer(err) };
  }
  log.error({ err: { message: err?.message, code: err?.code, stack: err?.stack }, path }, 'http.unhandled');
  return { status: err instanceof AppError ? err.status : 500, body: { error: 'internal_error', message: 'internal error' } };
}

/** The express app's error handler (the handler's own path answers through errorAnswer too). */
export function errorHandler(log: Log): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const { status, body } = errorAnswer(err, log, req.path);
    if (res.headersSent) return void res.destroy(); // a response under way (a CSV export) is cut, never answered twice
    if (typeof body.retryAfterS === 'number') res.setHeader('Retry-After', String(body.retryAfterS));
    res.status(status).json(body);
  };
}
