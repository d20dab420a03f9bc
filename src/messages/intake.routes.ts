import { Router } from 'express';
import { z } from 'zod';
import { AppError } from '../platform/errors.js';
import { formBody, str } from '../web/form.js';
import type { IntakeService } from './intake.service.js';

const required = (field: string, max: number) =>
  z
    .string({ message: `${field} is required` })
    .trim()
    .min(1, `${field} is required`)
    .max(max, `${field} is longer than ${max} characters`);

const sms = z.object({
  message_id: required('message_id', 64),
  message_to: required('message_to', 64),
  message_body: z.string({ message: 'message_body is required' }).min(1, 'message_body is required').refine((s) => s.trim() !== '', 'message_body is required'),
  code: z.string().max(128).optional(),
  module_id: z.string().max(32).optional(),
});

/** POST /handler: what Bitrix24 calls for every SMS sent through our provider. Stores, never sends. */
export function intakeRoutes(deps: { intake: IntakeService }) {
  const router = Router();

  router.post('/handler', formBody, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const auth = (typeof body.auth === 'object' && body.auth !== null ? body.auth : {}) as Record<string, unknown>;
    const portal = await deps.intake.authenticate(
      { memberId: str(auth.member_id), applicationToken: str(auth.application_token) },
      str(req.query.key),
    );

    const parsed = sms.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
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
    });
    res.status(200).json({ status: result.duplicate ? 'duplicate' : result.state });
  });

  return router;
}

/** Where the SMS came from in Bitrix24 (CRM bindings or the business process), kept for the message log. */
function pickOrigin(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const origin: Record<string, unknown> = {};
  for (const k of ['bindings', 'workflow_id', 'document_id', 'document_type']) if (body[k] !== undefined) origin[k] = body[k];
  return Object.keys(origin).length ? origin : undefined;
}
