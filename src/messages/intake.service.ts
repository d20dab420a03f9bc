import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { maskPhone } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { appUninstalled, type Portal, type PortalRepo } from '../portals/portal-repo.js';
import type { MessageRepo } from './message-repo.js';
import { normalizePhone } from './phone.js';
import { MAX_SEGMENTS, segmentsOf } from '../gateways/segments.js';
import type { IdentityRepo } from '../portals/identity-repo.js';

export interface IncomingSms {
  messageId: string;
  messageTo: string;
  messageBody: string;
  code: string;
  moduleId?: string;
  origin?: Record<string, unknown>;
  /** The auth block's user (auth[user_id]) and, when it came, their own short-lived token (auth[access_token]). */
  author?: { userId: number; accessToken?: string; expiresInS?: number };
}

const unauthorized = (why: string) => new AppError('unauthorized', 401, why);

/**
 * Takes an SMS from Bitrix24 (or a test SMS from the settings page): authenticates the caller, normalises the
 * number, queues it durably and wakes the workers.
 */
export function createIntakeService(deps: {
  portals: PortalRepo;
  messages: MessageRepo;
  clock: Clock;
  log: Log;
  identities?: Pick<IdentityRepo, 'rememberAuthor'>;
  onQueued?: () => void;
  onRejected?: () => void;
}) {
  /**
   * auth[application_token] is the documented proof (reference §2); author-less messages carry no
   * auth block, so the per-portal key in the handler URL authenticates those. An auth block is
   * always checked, even when the key is right.
   */
  async function authenticate(auth: { memberId?: string; applicationToken?: string }, handlerKey?: string): Promise<Portal> {
    const hasAuthBlock = auth.memberId !== undefined || auth.applicationToken !== undefined;
    if (hasAuthBlock && !auth.memberId) throw unauthorized('incomplete auth block');
    if (!hasAuthBlock && !handlerKey) throw unauthorized('no auth block and no handler key');
    const found = await deps.portals.authenticate({ memberId: hasAuthBlock ? auth.memberId : undefined, applicationToken: auth.applicationToken, handlerKey });
    if (!found.ok) throw unauthorized(found.why);
    if (found.portal.status === 'uninstalled') throw appUninstalled();
    return found.portal;
  }

  /** What every stored message takes from Bitrix24's call as it is. */
  const fromBitrix24 = (portal: Portal, sms: Omit<IncomingSms, 'messageBody'>) => ({
    portalId: portal.id, b24MessageId: sms.messageId, code: sms.code, moduleId: sms.moduleId, origin: sms.origin,
    authorId: sms.author?.userId ?? null, now: deps.clock(),
  });

  /**
   * An authenticated message we will not send. Bitrix24 never reads the handler's answer (core sender/sms/rest.php
   * marks the SMS sent as it hands it to its queue), so the refusal is stored as a `failed` message whose report goes
   * through the outbox like every other status; the caller still answers with the error. Nothing is written for a
   * body without a usable message_id: there is nothing to report then.
   */
  async function refuse(portal: Portal, sms: Omit<IncomingSms, 'messageBody'>, reason: string): Promise<void> {
    if (!MESSAGE_ID.test(sms.messageId)) return;
    const id = await deps.messages.enqueue({ ...fromBitrix24(portal, sms), messageTo: sms.messageTo.slice(0, 64), phone: null, body: null, state: 'failed', failureReason: reason });
    await keepAuthorToken(portal, sms);
    if (id === undefined) return;
    deps.log.child({ portalId: portal.id, b24MessageId: sms.messageId }).warn({ messageId: id, reason }, 'message.rejected');
    deps.onRejected?.();
  }

  /**
   * `test`: a test SMS from the settings page. It takes the same way as Bitrix24's messages, so every wake-up fires
   * for it too; flagged, it is never reported to Bitrix24 (which knows nothing of it).
   */
  async function accept(portal: Portal, sms: IncomingSms, opts: { test?: boolean } = {}): Promise<{ id?: number; duplicate: boolean; state: 'queued' | 'failed' }> {
    if (portal.disabledAt) {
      if (!opts.test) await refuse(portal, sms, DISABLED); // a test SMS is answered on the settings page itself
      throw new AppError('portal_disabled', 403, DISABLED);
    }
    const tooLong = textTooLong(sms.messageBody);
    const phone = normalizePhone(sms.messageTo, portal.defaultCountry);
    const reason = tooLong ?? (phone.ok ? undefined : phone.reason);
    const state = reason ? 'failed' : 'queued';
    const id = await deps.messages.enqueue({
      ...fromBitrix24(portal, sms),
      messageTo: sms.messageTo,
      phone: phone.ok ? phone.e164 : null,
      body: tooLong ? null : sms.messageBody, // never processed, so not kept either
      state,
      failureReason: reason,
      isTest: opts.test,
    });
    await keepAuthorToken(portal, sms);
    // The same fields a child logger would bind, without making one per message (a fifth of accept()'s own time).
    const about = { portalId: portal.id, b24MessageId: sms.messageId, ...(opts.test ? { test: true } : {}) };
    if (id === undefined) {
      deps.log.info(about, 'message.duplicate');
      return { duplicate: true, state };
    }
    if (state === 'queued') deps.log.info({ ...about, messageId: id, to: maskPhone(phone.ok ? phone.e164 : '') }, 'message.queued');
    else deps.log.warn({ ...about, messageId: id, to: maskPhone(sms.messageTo), reason: tooLong ? 'text_too_long' : 'invalid_number' }, 'message.rejected');
    if (state === 'queued') deps.onQueued?.();
    else deps.onRejected?.(); // its `failed` report is waiting in the outbox
    return { id, duplicate: false, state };
  }

  /**
   * The author's own token is the last way to report their message's status when no administrator's token is
   * accepted (issue 10 §3). Best effort: without it the report waits for an administrator, so a failure to keep it
   * does not refuse the message.
   */
  async function keepAuthorToken(portal: Portal, sms: Pick<IncomingSms, 'author'>) {
    const a = sms.author;
    if (!a?.accessToken || !deps.identities) return;
    await deps.identities.rememberAuthor(portal.id, a.userId, a.accessToken, a.expiresInS ?? 3600, deps.clock())
      .catch((err) => deps.log.warn({ portalId: portal.id, err: String(err) }, 'author.token.not_kept'));
  }

  return { authenticate, accept, refuse };
}

export type IntakeService = ReturnType<typeof createIntakeService>;

const DISABLED = 'the service operator has disabled this portal';
/** What Bitrix24 sends as message_id (32 hex characters), with room for other senders' ids; nothing else is stored. */
const MESSAGE_ID = /^[\x21-\x7e]{1,64}$/;

// No text longer than this fits MAX_SEGMENTS parts in any encoding: refused before anything counts its parts.
const MAX_TEXT_UNITS = MAX_SEGMENTS * 153;

/** Bitrix24 puts no limit on message_body (reference §2); a text no SMS can carry is failed at once, never sent. */
function textTooLong(text: string): string | undefined {
  if (text.length > MAX_TEXT_UNITS) return `text too long: ${text.length} characters, more than any SMS can carry`;
  const { segments } = segmentsOf(text);
  return segments > MAX_SEGMENTS ? `text too long: ${segments} parts, at most ${MAX_SEGMENTS}` : undefined;
}
