import type { ErrorRequestHandler } from 'express';
import { AppError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';

/** The one error handler: 4xx answers say what was wrong, 5xx say nothing internal. */
export function errorHandler(log: Log): ErrorRequestHandler {
  return (err, req, res, _next) => {
    // body-parser errors carry `status` and `type` (entity.too.large → 413, parse errors → 400).
    const parserStatus = typeof err?.status === 'number' && typeof err?.type === 'string' ? (err.status as number) : undefined;
    if (err instanceof AppError && err.expose) {
      if (err.status >= 500) log.warn({ code: err.code, path: req.path }, 'http.error');
      return res.status(err.status).json({ error: err.code, message: err.message, ...(err.details ?? {}) });
    }
    if (parserStatus && parserStatus < 500) {
      const code = parserStatus === 413 ? 'payload_too_large' : 'invalid_body';
      const message = parserStatus === 413 ? 'the body is larger than 1 MB' : 'the body could not be parsed';
      return res.status(parserStatus).json({ error: code, message });
    }
    log.error({ err: { message: err?.message, code: err?.code, stack: err?.stack }, path: req.path }, 'http.unhandled');
    const status = err instanceof AppError ? err.status : 500;
    res.status(status).json({ error: 'internal_error', message: 'internal error' });
  };
}
