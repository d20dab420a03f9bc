import { z } from 'zod';
import { PROVIDERS } from '../gateways/index.js';
import type { Lang } from '../../views/i18n.js';

// Sender names are what operators approve: up to 11 Latin letters/digits, or a number of up to 15 digits.
export const senderField = (lang: Lang) =>
  z
    .string()
    .trim()
    .default('')
    .refine((s) => s === '' || /^[A-Za-z0-9 ._&-]{1,11}$/.test(s) || /^\+?\d{1,15}$/.test(s), {
      message: lang === 'ru' ? 'До 11 латинских букв, цифр, пробелов и . _ & - или номер до 15 цифр' : 'Up to 11 Latin letters, digits, spaces and . _ & -, or a number of up to 15 digits',
    });

/** Validates a gateway form (install page or settings page); secrets may be left empty when the same provider already has them saved. */
export function parseSubmission(raw: Record<string, unknown>, lang: Lang, saved: { provider: string; credentials: Record<string, string> } | undefined) {
  const ru = lang === 'ru';
  // A field left out of the post reads as an empty one, so every message names what is missing.
  const body: Record<string, unknown> = { sender: '', api_key: '', kannel_url: '', kannel_username: '', kannel_password: '', ...raw };
  const keep = (provider: string) => saved?.provider === provider;
  const secret = (required: boolean, message: string) =>
    required ? z.string().trim().min(1, message).max(200) : z.string().trim().max(200).optional();
  const provider = z.enum(PROVIDERS, { message: ru ? 'Выберите шлюз из списка' : 'Choose a gateway from the list' }).safeParse(body.provider);
  if (!provider.success) {
    const sender = senderField(lang).safeParse(body.sender);
    const errors: Record<string, string> = { provider: provider.error.issues[0]!.message };
    if (!sender.success) errors.sender = sender.error.issues[0]!.message;
    return { ok: false as const, errors };
  }
  const schema =
    provider.data === 'smsru'
      ? z.object({ sender: senderField(lang), api_key: secret(!keep('smsru'), ru ? 'Введите API-ключ' : 'Enter the API key') })
      : z.object({
          sender: senderField(lang),
          kannel_url: z.string().trim().url(ru ? 'Введите адрес smsbox, например http://kannel:13013' : 'Enter the smsbox address, e.g. http://kannel:13013').refine((u) => /^https?:\/\//.test(u), ru ? 'Только http или https' : 'http or https only'),
          kannel_username: z.string().trim().min(1, ru ? 'Введите имя пользователя sendsms' : 'Enter the sendsms username').max(100),
          kannel_password: secret(!keep('kannel'), ru ? 'Введите пароль sendsms' : 'Enter the sendsms password'),
        });
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const i of parsed.error.issues) errors[String(i.path[0])] ??= i.message;
    return { ok: false as const, errors };
  }
  const d = parsed.data as Record<string, string | undefined>;
  let credentials: Record<string, string> | undefined;
  if (provider.data === 'smsru') credentials = d.api_key ? { api_key: d.api_key } : undefined;
  else {
    const password = d.kannel_password || (keep('kannel') ? saved!.credentials.password : undefined) || '';
    credentials = { url: d.kannel_url!, username: d.kannel_username!, password };
  }
  return { ok: true as const, provider: provider.data, sender: d.sender ?? '', credentials };
}

