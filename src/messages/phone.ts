import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/**
 * `reason` is stored as the message's failure reason (English; the Russian log reads it back, src/web/i18n-reasons.ts);
 * `code` and `country` word it on a form in the page's language.
 */
export type PhoneResult = { ok: true; e164: string } | { ok: false; reason: string; code: 'unreadable' } | { ok: false; reason: string; code: 'not_valid_for'; country: string };

/**
 * Normalises a number as typed in CRM ("+7 (999) 123-45-67", "89991234567", "9991234567")
 * to E.164, using the portal's default country for numbers without a country code.
 */
export function normalizePhone(raw: string, defaultCountry: string): PhoneResult {
  const parsed = parsePhoneNumberFromString(raw, { defaultCountry: defaultCountry as CountryCode, extract: false });
  // The reason is shown in the portal's log to every user, so it never quotes what was typed (it may be a number).
  if (!parsed) return { ok: false, reason: 'invalid phone number: no phone number could be read from it', code: 'unreadable' };
  if (!parsed.isValid()) {
    const country = parsed.country ?? defaultCountry;
    return { ok: false, reason: `invalid phone number: not a valid number for ${country}`, code: 'not_valid_for', country };
  }
  return { ok: true, e164: parsed.number };
}

/** Recipients in the message log and its CSV for those who may not see full numbers: all but the last 4 digits masked. */
export function maskRecipient(to: string): string {
  const digits = to.replace(/\D/g, '');
  if (digits.length <= 4) return to ? '••••' : '';
  return `${to.startsWith('+') ? '+' : ''}${'•'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}
