import express, { type RequestHandler } from 'express';
import { AppError } from '../platform/errors.js';

/**
 * Bitrix24 posts application/x-www-form-urlencoded bodies with PHP bracket keys
 * (auth[member_id], bindings[0][OWNER_ID]); qs ("extended") turns them into nested objects.
 * Anything else is 415. Over 1 MB or over 5000 fields is 413, nesting deeper than body-parser's default
 * 32 levels is 400; the error handler says which.
 */
const parse = express.urlencoded({ extended: true, limit: '1mb', parameterLimit: 5000 });

export const formBody: RequestHandler = (req, res, next) => {
  if (!req.is('application/x-www-form-urlencoded')) {
    return next(new AppError('unsupported_media_type', 415, 'the body must be application/x-www-form-urlencoded'));
  }
  return parse(req, res, next);
};

/** A string field of a parsed form, or undefined when absent or not a plain string. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
