import { z } from 'zod';
import { isForbiddenHostLiteral } from '../platform/address-guard.js';
import { parseSmppUrl } from '../gateways/smpp/connect.js';
import { SMPP_DEFAULTS } from '../gateways/smpp/smpp.js';
import type { CredentialCheck } from '../gateways/gateway.js';
import { t, type Lang } from '../web/i18n.js';

/**
 * The SMPP part of the gateway form (gateway-form.ts asks it): fields, their rules, and the stored credentials.
 * The connection is the address, system id and system type: change one, and the password must be typed again.
 */
export const SMPP_CONNECTION = {
  fields: { smpp_url: 'url', smpp_system_id: 'system_id', smpp_system_type: 'system_type' },
  secrets: { smpp_password: 'password' },
};

/** Every non-secret SMPP field (form name → stored key): shown again on the forms. */
export const SMPP_FIELDS: Record<string, string> = {
  ...SMPP_CONNECTION.fields, smpp_source_ton: 'source_ton', smpp_source_npi: 'source_npi', smpp_tps: 'tps', smpp_window: 'window',
};
export const SMPP_FORM_FIELDS = Object.keys(SMPP_FIELDS);

// SMPP 3.4 §5.2: system_id is at most 16 octets with its NUL, password 9, system_type 13; printable ASCII.
const ascii = (max: number) => new RegExp(`^[\\x21-\\x7e]{0,${max}}$`);
// TON 0–6; NPI as SMPP 3.4 §5.2.6 lists them.
const NPI = new Set([0, 1, 3, 4, 6, 8, 9, 10, 14, 18]);
const optionalInt = (ok: (n: number) => boolean, message: string) =>
  z.string().trim().default('').refine((s) => s === '' || (/^\d{1,4}$/.test(s) && ok(Number(s))), message);

export function smppSchema(lang: Lang, allowPrivate: boolean) {
  const say = t(lang).smpp.errors;
  return z.object({
    smpp_url: z
      .string()
      .trim()
      .refine((u) => parseSmppUrl(u) !== undefined, say.url)
      // Names are checked again when connecting (address-guard.ts): what a name resolves to can change.
      .refine((u) => allowPrivate || !isForbiddenHostLiteral(parseSmppUrl(u)?.host ?? ''), t(lang).form.privateAddress),
    smpp_system_id: z.string().trim().min(1, say.systemId).regex(ascii(15), say.systemId),
    smpp_password: z.string().trim().regex(ascii(8), say.password),
    smpp_system_type: z.string().trim().default('').refine((s) => ascii(12).test(s), say.systemType),
    smpp_source_ton: optionalInt((n) => n <= 6, say.ton),
    smpp_source_npi: optionalInt((n) => NPI.has(n), say.npi),
    smpp_tps: optionalInt((n) => n >= 1 && n <= 1000, say.tps),
    smpp_window: optionalInt((n) => n >= 1 && n <= 100, say.window),
  });
}

/** The credentials to store (an empty password keeps the saved one: the caller allowed it). */
export function smppCredentials(d: Record<string, string | undefined>, savedPassword: string): Record<string, string> {
  return {
    url: d.smpp_url!, system_id: d.smpp_system_id!, password: d.smpp_password || savedPassword, system_type: d.smpp_system_type ?? '',
    source_ton: d.smpp_source_ton ?? '', source_npi: d.smpp_source_npi ?? '',
    tps: d.smpp_tps || String(SMPP_DEFAULTS.tps), window: d.smpp_window || String(SMPP_DEFAULTS.window),
  };
}

/** The saved account's non-secret fields, as the form shows them. */
export const smppFormValues = (credentials: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(SMPP_FIELDS).map(([field, key]) => [field, credentials[key] ?? '']));

/** The field a failed bind is shown at: the address, the system id, or the password. */
export function smppCheckField(check: Extract<CredentialCheck, { ok: false }>): string {
  if (check.addressRefused || check.about === 'address') return 'smpp_url';
  return check.about === 'login' ? 'smpp_system_id' : 'smpp_password';
}

/** A failed bind in the page's language, by the centre's code (ESME_…), or the check's own words. */
export function smppCheckText(lang: Lang, check: Extract<CredentialCheck, { ok: false }>): string {
  const say = t(lang);
  if (check.addressRefused) return say.form.privateAddress;
  const words = check.code ? say.smpp.check[check.code] : undefined;
  if (words) return words;
  return check.code?.startsWith('ESME_') ? say.smpp.checkOther(check.code) : check.reason;
}
