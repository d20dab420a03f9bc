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
  ) {
    super(`${code}: ${description}`);
    this.name = 'B24Error';
  }
}

// Reference §5: answers after which the portal's tokens are useless.
const TERMINAL = new Set([
  'invalid_grant', 'invalid_client', 'wrong_client', 'PAYMENT_REQUIRED', 'APPLICATION_NOT_FOUND', 'PORTAL_DELETED',
]);
const RETRYABLE = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT', 'INTERNAL_SERVER_ERROR']);
export const TOKEN_EXPIRED = new Set(['expired_token', 'invalid_token']);

export function classify(code: string, httpStatus: number | undefined): B24ErrorKind {
  if (TERMINAL.has(code)) return 'terminal';
  if (RETRYABLE.has(code) || (httpStatus !== undefined && httpStatus >= 500)) return 'retryable';
  return 'permanent';
}

export function errorFromBody(body: unknown, httpStatus: number): B24Error {
  const b = (body ?? {}) as { error?: unknown; error_description?: unknown };
  const code = typeof b.error === 'string' ? b.error : httpStatus >= 500 ? 'HTTP_' + httpStatus : 'UNEXPECTED_RESPONSE';
  const description = typeof b.error_description === 'string' ? b.error_description : `HTTP ${httpStatus}`;
  return new B24Error(code, description, classify(code, httpStatus), httpStatus);
}
