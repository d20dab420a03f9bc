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

/** Plain words for the errors an administrator can meet on the install and settings pages. */
export function explain(err: B24Error, lang: 'ru' | 'en'): string {
  const en: Record<string, string> = {
    ACCESS_DENIED: 'Only a Bitrix24 administrator can install this app. Ask an administrator of your Bitrix24 to open it.',
    insufficient_scope: 'The app has no access to SMS providers (the "messageservice" scope). Reinstall the app with that permission.',
    ERROR_WRONG_HANDLER_URL: 'Bitrix24 refused our handler address. The service must be reachable at a public https address.',
    ERROR_UNSUPPORTED_PROTOCOL: 'Bitrix24 refused our handler address. The service must be reachable at a public https address.',
    PAYMENT_REQUIRED: 'Your Bitrix24 plan does not allow this app (payment required).',
    QUERY_LIMIT_EXCEEDED: 'Bitrix24 is busy right now. Please try again in a minute.',
    NETWORK: 'Bitrix24 could not be reached. Please try again in a minute.',
  };
  const ru: Record<string, string> = {
    ACCESS_DENIED: 'Установить приложение может только администратор Битрикс24. Попросите администратора вашего портала открыть его.',
    insufficient_scope: 'У приложения нет доступа к SMS-провайдерам (право «messageservice»). Переустановите приложение с этим правом.',
    ERROR_WRONG_HANDLER_URL: 'Битрикс24 не принял адрес обработчика. Сервис должен быть доступен по публичному https-адресу.',
    ERROR_UNSUPPORTED_PROTOCOL: 'Битрикс24 не принял адрес обработчика. Сервис должен быть доступен по публичному https-адресу.',
    PAYMENT_REQUIRED: 'Тариф вашего Битрикс24 не позволяет использовать это приложение (требуется оплата).',
    QUERY_LIMIT_EXCEEDED: 'Битрикс24 сейчас перегружен. Повторите через минуту.',
    NETWORK: 'Не удалось связаться с Битрикс24. Повторите через минуту.',
  };
  const known = (lang === 'ru' ? ru : en)[err.code];
  if (known) return known;
  return lang === 'ru'
    ? `Битрикс24 ответил ошибкой ${err.code}: ${err.description}`
    : `Bitrix24 answered with an error ${err.code}: ${err.description}`;
}
