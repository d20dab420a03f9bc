import { pino, type DestinationStream, type Logger } from 'pino';

export type Log = Logger;

/** Tokens, keys and secrets are redacted wherever they appear by mistake. */
const REDACT = [
  'access_token', 'refresh_token', 'application_token', 'api_key', 'password', 'secret',
  '*.access_token', '*.refresh_token', '*.application_token', '*.api_key', '*.password', '*.secret',
  'req.headers.authorization', 'req.headers.cookie',
];

export function createLogger(level: string, destination?: DestinationStream): Log {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: undefined };
  return destination ? pino(options, destination) : pino(options);
}

/** Phone numbers appear in logs only as their last four digits. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '';
  const digits = phone.replace(/\D/g, '');
  return digits.length <= 4 ? '****' : `${'*'.repeat(Math.min(digits.length - 4, 8))}${digits.slice(-4)}`;
}
