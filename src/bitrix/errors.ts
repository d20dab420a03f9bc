/**
 * A failed Bitrix24 or OAuth call. `kind` drives what callers do:
 * - retryable: back off and try again (rate limit, 5xx, network);
 * - terminal: the portal cannot be used until reinstalled or paid (portal is marked inactive);
 * - permanent: this call will never succeed as is (validation, access, not found).
 */
export type B24ErrorKind = 'retryable' | 'terminal' | 'permanent';

export class B24Error extends Error {
  constructor(
    readonly code: string,
    readonly description: string,
    readonly kind: B24ErrorKind,
    readonly httpStatus?: number,
    /** OPERATION_TIME_LIMIT: when the answer's `time.operating_reset_at` says the method is released (epoch ms). */
    readonly resetAt?: number,
  ) {
    super(`${code}: ${description}`);
    this.name = 'B24Error';
  }
}

/**
 * A portal whose plan has no REST (a lapsed commercial plan): core rest/lib/oauth/auth.php answers every call with
 * ACCESS_DENIED "REST is available only on commercial plans." (HTTP 401; b24restdocs `_includes/system-errors.md`),
 * the same code as a user who is no administrator. Told apart by its description and named on its own, so that it
 * is not taken for a missing administrator (reports waiting for one, the install page asking for one).
 */
export const PLAN_WITHOUT_REST = 'PLAN_WITHOUT_REST';
const PLAN_WITHOUT_REST_TEXT = /available only on commercial plans|available only by subscription/i;

// Reference §5: answers after which the portal's tokens are useless.
const TERMINAL = new Set([
  'invalid_grant', 'invalid_client', 'wrong_client', 'PAYMENT_REQUIRED', 'APPLICATION_NOT_FOUND', PLAN_WITHOUT_REST,
]);
const RETRYABLE = new Set(['QUERY_LIMIT_EXCEEDED', 'INTERNAL_SERVER_ERROR']);
/**
 * Answers that stop calls to a portal (or one of its methods) for a while, recorded as a pause (pauses.ts) rather
 * than retried within the call (b24restdocs `_includes/system-errors.md`, `limits.md`): PORTAL_DELETED is core
 * rest.php's answer while an on-premise portal's public part is closed (site_stopped=Y, HTTP 403); OVERLOAD_LIMIT
 * is a manual block of the portal's REST (HTTP 401); OPERATION_TIME_LIMIT blocks one method until
 * `operating_reset_at` (HTTP 429). PORTAL_PAUSED is our own refusal while such a pause lasts.
 */
export const PAUSING = new Set(['PORTAL_DELETED', 'OVERLOAD_LIMIT', 'OPERATION_TIME_LIMIT']);
export const PORTAL_PAUSED = 'PORTAL_PAUSED';
/** The portal's certificate is not trusted by this process (its own CA: see README, NODE_EXTRA_CA_CERTS). */
export const CERT_UNTRUSTED = 'CERT_UNTRUSTED';
export const TOKEN_EXPIRED = new Set(['expired_token', 'invalid_token']);
/**
 * Answers after which the stored token is replaced once and the call tried again: an expired or unknown token, and
 * NO_AUTH_FOUND, which a portal answers for a token it does not know. The same answer after the refresh ends the
 * portal (rest-client.ts).
 */
export const REFRESH_AND_RETRY = new Set([...TOKEN_EXPIRED, 'NO_AUTH_FOUND']);

export function classify(code: string, httpStatus: number | undefined): B24ErrorKind {
  if (TERMINAL.has(code)) return 'terminal';
  if (RETRYABLE.has(code) || PAUSING.has(code) || (httpStatus !== undefined && httpStatus >= 500)) return 'retryable';
  return 'permanent';
}

export function errorFromBody(body: unknown, httpStatus: number): B24Error {
  const b = (body ?? {}) as { error?: unknown; error_description?: unknown; time?: unknown };
  const description = typeof b.error_description === 'string' ? b.error_description : `HTTP ${httpStatus}`;
  let code = typeof b.error === 'string' ? b.error : httpStatus >= 500 ? 'HTTP_' + httpStatus : 'UNEXPECTED_RESPONSE';
  if (code === 'ACCESS_DENIED' && PLAN_WITHOUT_REST_TEXT.test(description)) code = PLAN_WITHOUT_REST;
  return new B24Error(code, description, classify(code, httpStatus), httpStatus, operatingResetAt(b.time));
}

/** `time.operating_reset_at` (Unix seconds, b24restdocs `limits.md`) as epoch ms, when an answer carries it. */
export function operatingResetAt(time: unknown): number | undefined {
  const at = Number((time as { operating_reset_at?: unknown } | null | undefined)?.operating_reset_at);
  return Number.isFinite(at) && at > 0 ? at * 1000 : undefined;
}
