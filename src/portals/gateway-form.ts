import { z } from 'zod';
import { GATEWAYS, type GatewayKind } from '../gateways/index.js';
import { isForbiddenHostLiteral } from '../platform/address-guard.js';
import { t, type Lang } from '../web/i18n.js';
import type { CredentialCheck } from '../gateways/gateway.js';
import { SMPP_CONNECTION, smppCheckField, smppCheckText, smppCredentials, smppSchema } from './smpp-form.js';

// Sender names are what operators approve: up to 11 Latin letters/digits, or a number of up to 15 digits.
export const senderField = (lang: Lang) =>
  z
    .string()
    .trim()
    .default('')
    .refine((s) => s === '' || /^[A-Za-z0-9 ._&-]{1,11}$/.test(s) || /^\+?\d{1,15}$/.test(s), { message: t(lang).form.senderName });

/**
 * Each gateway's connection: non-secret fields and secrets (form field → stored credential key). A secret left
 * empty keeps the saved one only while every non-secret field is unchanged; otherwise the saved secret would be
 * sent to an address (or as a user) its owner never chose. A new gateway (SMPP: host, port, system id; password)
 * only lists its fields here.
 */
const CONNECTION: Record<GatewayKind, { fields: Record<string, string>; secrets: Record<string, string> }> = {
  smsru: { fields: {}, secrets: { api_key: 'api_key' } },
  kannel: { fields: { kannel_url: 'url', kannel_username: 'username' }, secrets: { kannel_password: 'password' } },
  smscru: { fields: { smscru_login: 'login' }, secrets: { smscru_password: 'password' } },
  sandbox: { fields: {}, secrets: {} }, // sends nothing: there is nothing to connect to
  smpp: SMPP_CONNECTION,
};

type Saved = { gateway: string; credentials: Record<string, string> } | undefined;

/** Whether the saved secrets may be kept for these submitted connection fields. */
function keepsSecrets(gateway: GatewayKind, values: Record<string, string | undefined>, saved: Saved): boolean {
  if (saved?.gateway !== gateway) return false;
  return Object.entries(CONNECTION[gateway].fields).every(([field, key]) => (values[field] ?? '') === (saved.credentials[key] ?? ''));
}

const urlOf = (u: string) => {
  try {
    return new URL(u);
  } catch {
    return undefined;
  }
};

/**
 * A gateway's base URL: http(s) only; no user info, query or fragment (a `#` or `?` would swallow the path we
 * append); and, unless private gateways are allowed, no literal internal address or localhost name. Names are
 * checked again when connecting (src/platform/address-guard.ts): what a name resolves to can change.
 */
const gatewayUrl = (lang: Lang, allowPrivate: boolean) => {
  const say = t(lang).form;
  return z
    .string()
    .trim()
    .url(say.kannelUrl)
    .refine((u) => ['http:', 'https:'].includes(urlOf(u)?.protocol ?? ''), say.httpOnly)
    .refine((u) => !/[?#]/.test(u), say.noQuery)
    .refine((u) => !urlOf(u)?.username && !urlOf(u)?.password, say.noUserInfo)
    .refine((u) => allowPrivate || !isForbiddenHostLiteral(urlOf(u)?.hostname ?? ''), say.privateAddress);
};

/**
 * Validates a gateway form (install page or settings page). Secrets may be left empty when the same gateway
 * already has them saved and no connection field changed. `allowPrivate` is ALLOW_PRIVATE_GATEWAYS.
 */
export function parseSubmission(raw: Record<string, unknown>, lang: Lang, saved: Saved, policy: { allowPrivate: boolean }) {
  const say = t(lang).form;
  // A field left out of the post reads as an empty one, so every message names what is missing.
  const body: Record<string, unknown> = { sender: '', api_key: '', kannel_url: '', kannel_username: '', kannel_password: '', kannel_max_parts: '', smscru_login: '', smscru_password: '', smpp_url: '', smpp_system_id: '', smpp_password: '', ...raw };
  // The form field keeps the name `provider` (the page contract); what it names is a gateway kind.
  const gateway = z.enum(GATEWAYS, { message: say.chooseGateway }).safeParse(body.provider);
  if (!gateway.success) {
    const sender = senderField(lang).safeParse(body.sender);
    const errors: Record<string, string> = { provider: gateway.error.issues[0]!.message };
    if (!sender.success) errors.sender = sender.error.issues[0]!.message;
    return { ok: false as const, errors };
  }
  const secret = z.string().trim().max(200);
  const schema =
    gateway.data === 'sandbox'
      ? z.object({ sender: senderField(lang) })
      : gateway.data === 'smsru'
      ? z.object({ sender: senderField(lang), api_key: secret })
      : gateway.data === 'smpp'
      ? smppSchema(lang, policy.allowPrivate).extend({ sender: senderField(lang) })
      : gateway.data === 'smscru'
      ? z.object({ sender: senderField(lang), smscru_login: z.string().trim().min(1, say.smscruLogin).max(100), smscru_password: secret })
      : z.object({
          sender: senderField(lang),
          kannel_url: gatewayUrl(lang, policy.allowPrivate),
          kannel_username: z.string().trim().min(1, say.kannelUsername).max(100),
          kannel_password: secret,
          kannel_max_parts: z.string().trim().refine((s) => s === '' || (/^\d{1,3}$/.test(s) && Number(s) >= 1 && Number(s) <= 255), say.kannelMaxParts),
        });
  const parsed = schema.safeParse(body);
  const errors: Record<string, string> = {};
  if (!parsed.success) for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;

  const values = Object.fromEntries(Object.keys(body).map((k) => [k, typeof body[k] === 'string' ? body[k].trim() : undefined]));
  const keep = keepsSecrets(gateway.data, values, saved);
  const changed = saved?.gateway === gateway.data && !keep;
  const missing: Record<string, string> = {
    api_key: say.apiKey, kannel_password: changed ? say.kannelPasswordAgain : say.kannelPassword,
    smscru_password: changed ? say.smscruPasswordAgain : say.smscruPassword,
    smpp_password: changed ? t(lang).smpp.errors.passwordAgain : t(lang).smpp.errors.passwordMissing,
  };
  for (const field of Object.keys(CONNECTION[gateway.data].secrets)) {
    if (!keep && !values[field]) errors[field] ??= missing[field]!;
  }
  if (!parsed.success || Object.keys(errors).length) return { ok: false as const, errors };

  const d = parsed.data as Record<string, string | undefined>;
  let credentials: Record<string, string> | undefined;
  if (gateway.data === 'sandbox') credentials = {};
  else if (gateway.data === 'smsru') credentials = d.api_key ? { api_key: d.api_key } : undefined;
  else if (gateway.data === 'smpp') credentials = smppCredentials(d, saved?.credentials.password ?? '');
  else if (gateway.data === 'smscru') credentials = { login: d.smscru_login!, password: d.smscru_password || saved!.credentials.password || '' };
  else {
    credentials = { url: d.kannel_url!, username: d.kannel_username!, password: d.kannel_password || saved!.credentials.password || '' };
    if (d.kannel_max_parts) credentials.max_parts = String(Number(d.kannel_max_parts)); // Kannel's max-messages: see kannel.ts
  }
  return { ok: true as const, gateway: gateway.data, sender: d.sender ?? '', credentials };
}

/** Where a failed credential check is shown: next to the address when the address itself was refused. */
export function checkFailureField(gateway: string, check: Extract<CredentialCheck, { ok: false }>): string {
  if (gateway === 'smpp') return smppCheckField(check);
  if (check.addressRefused) return 'kannel_url';
  if (gateway === 'smscru') return 'smscru_password';
  return gateway === 'smsru' ? 'api_key' : 'kannel_password';
}

/**
 * A failed credential check in the page's language, by its code (SMPP: the centre's ESME_ code); a check without one
 * (SMS.ru's own words for a refused key) is shown as the gateway said it.
 */
export function checkFailureText(lang: Lang, gateway: string, check: Extract<CredentialCheck, { ok: false }>): string {
  if (gateway === 'smpp') return smppCheckText(lang, check);
  if (check.addressRefused) return t(lang).form.privateAddress;
  const words = check.code ? t(lang).gatewayCheck[gateway]?.[check.code] : undefined;
  return words ? words(...(check.details ?? [])) : check.reason;
}
