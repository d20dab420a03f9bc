import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AppError } from '../platform/errors.js';
import type { Log } from '../platform/logger.js';
import { rawAnswers } from '../web/raw-http.js';
import { parsePhpForm } from '../web/php-form.js';
import { str } from '../web/form.js';
import type { IncomingSms, IntakeService } from './intake.service.js';

/** No text column takes a NUL character (PostgreSQL refuses the whole statement, and so its neighbours' rows). */
const NUL = '\u0000';
const noNul = (field: string) => [(s: string) => !s.includes(NUL), `${field} contains a NUL character`] as const;

const required = (field: string, max: number) =>
  z
    .string({ message: `${field} is required` })
    .trim()
    .min(1, `${field} is required`)
    .max(max, `${field} is longer than ${max} characters`)
    .refine(...noNul(field));

const sms = z.object({
  message_id: required('message_id', 64),
  message_to: required('message_to', 64),
  message_body: z.string({ message: 'message_body is required' }).min(1, 'message_body is required').refine((s) => s.trim() !== '', 'message_body is required').refine(...noNul('message_body')),
  code: z.string().max(128).refine(...noNul('code')).optional(),
  module_id: z.string().max(32).refine(...noNul('module_id')).optional(),
});

/** Auth[user_id] is a 32-bit integer column: a larger id is no author rather than a failed write. */
const MAX_USER_ID = 2_147_483_647;

const LIMIT = 1 << 20; // 1 MB, as the other forms' parser
// Bitrix24's SMS are a few kB: 64 MB of bodies on their way at once is an attack or a flood, refused (503, Retry-After)
// rather than held in memory.
const BODY_BUDGET = 64 << 20;
const MAX_FIELDS = 5000;
const MAX_DEPTH = 32;

/** `POST /handler…`: what this module answers; everything else goes to the express app. */
export const isHandlerRequest = (req: IncomingMessage) => req.method === 'POST' && (req.url === '/handler' || req.url!.startsWith('/handler?'));

/**
 * POST /handler: what Bitrix24 calls for every SMS sent through our provider. Stores, never sends. It is the one
 * hot path, so it runs on node's own request and response, not through express (whose routing, request decoration
 * and qs parser took most of its time in the profile): read the body (form only, 1 MB, utf-8), parse, authenticate,
 * validate, store, answer. Answers and errors are the same JSON as every other route's.
 */
export function intakeHandler(deps: {
  intake: IntakeService; log: Log; headers: Array<[string, string]>; observe: (seconds: number, status: number) => void;
  /** Bytes of bodies being received at once, over all connections (each may hold up to 1 MB for REQUEST_TIMEOUT). */
  bodyBudgetBytes?: number;
}) {
  const answer = rawAnswers(deps.headers, deps.log);
  const budget = { left: deps.bodyBudgetBytes ?? BODY_BUDGET };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parsePhpForm(await readForm(req, budget), { maxFields: MAX_FIELDS, maxDepth: MAX_DEPTH });
    const auth = (typeof body.auth === 'object' && body.auth !== null && !Array.isArray(body.auth) ? body.auth : {}) as Record<string, unknown>;
    const portal = await deps.intake.authenticate({ memberId: str(auth.member_id), applicationToken: str(auth.application_token) }, handlerKey(req.url!));

    const parsed = sms.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      // Authenticated, so Bitrix24 is told too: it shows the SMS as sent until a status says otherwise.
      const f = (k: string) => str(body[k])?.trim().replaceAll(NUL, '') ?? ''; // kept for the log: without NULs
      await deps.intake.refuse(portal, {
        messageId: str(body.message_id)?.trim() ?? '', // as Bitrix24 knows it, or not stored at all
        messageTo: f('message_to'), code: f('code').slice(0, 128), moduleId: f('module_id').slice(0, 32) || undefined,
        origin: pickOrigin(body), author: authorOf(auth),
      }, `not sent: ${issue.message}`);
      throw new AppError('invalid_request', 400, issue.message, true, { field: String(issue.path[0]) });
    }
    const m = parsed.data;
    const result = await deps.intake.accept(portal, {
      messageId: m.message_id,
      messageTo: m.message_to,
      messageBody: m.message_body,
      code: m.code ?? '',
      moduleId: m.module_id,
      origin: pickOrigin(body),
      author: authorOf(auth),
    });
    answer.json(res, 200, { status: result.duplicate ? 'duplicate' : result.state });
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    res.on('finish', () => deps.observe((performance.now() - started) / 1000, res.statusCode));
    handle(req, res).catch((err) => answer.error(res, err, '/handler', err instanceof BodyError));
  };
}

class BodyError extends AppError {}

/** The body as text: application/x-www-form-urlencoded in utf-8, unencoded, at most LIMIT bytes, within the budget. */
function readForm(req: IncomingMessage, budget: { left: number }): Promise<string> {
  const [type, ...params] = String(req.headers['content-type'] ?? '').split(';');
  if (type!.trim().toLowerCase() !== 'application/x-www-form-urlencoded') {
    throw new BodyError('unsupported_media_type', 415, 'the body must be application/x-www-form-urlencoded');
  }
  const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if ((charset && charset !== 'utf-8') || encoding !== 'identity') {
    throw new BodyError('unsupported_media_type', 415, 'the body has an unsupported charset or content encoding');
  }
  const tooLarge = () => new BodyError('payload_too_large', 413, 'the body is larger than 1 MB');
  if (Number(req.headers['content-length'] ?? 0) > LIMIT) throw tooLarge();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    const release = () => ((budget.left += held), (held = 0));
    const stop = (err: Error) => {
      req.removeAllListeners('data');
      req.pause();
      release();
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > LIMIT) return stop(tooLarge());
      if (chunk.length > budget.left) {
        return stop(new BodyError('busy', 503, 'too many messages are arriving at once; try again in a moment', true, { retryAfterS: 1 }));
      }
      budget.left -= chunk.length;
      held += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      release();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => stop(err));
    req.on('close', release); // a client gone halfway
  });
}

/** ?key=… of the handler URL (the per-portal key); a key given twice counts as none. */
function handlerKey(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const keys = new URLSearchParams(url.slice(q + 1)).getAll('key');
  return keys.length === 1 ? keys[0] : undefined;
}

/** The auth block's author: user id, and their short-lived token when one came (never a refresh token). */
function authorOf(auth: Record<string, unknown>): IncomingSms['author'] {
  const userId = Number(str(auth.user_id));
  if (!Number.isInteger(userId) || userId <= 0 || userId > MAX_USER_ID) return undefined;
  const token = str(auth.access_token);
  const expires = Number(str(auth.expires_in));
  return { userId, accessToken: token && token.length <= 512 ? token : undefined, expiresInS: Number.isFinite(expires) ? expires : undefined };
}

/** Where the SMS came from in Bitrix24 (CRM bindings or the business process), kept for the message log. */
function pickOrigin(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const origin: Record<string, unknown> = {};
  for (const k of ['bindings', 'workflow_id', 'document_id', 'document_type']) if (body[k] !== undefined) origin[k] = body[k];
  return Object.keys(origin).length ? origin : undefined;
}
