import type { Clock } from '../platform/clock.js';
import type { Crypto } from '../platform/crypto.js';
import type { Lang } from '../web/i18n.js';

/**
 * What a signed form token may be used for: one page action each. A token minted for one purpose is refused
 * by every other route, so the read-only token a portal user gets for the message log opens nothing else.
 */
export const PURPOSES = {
  'install.save': { admin: true },
  'app.gateway': { admin: true },
  'app.senders.add': { admin: true },
  'app.senders.remove': { admin: true },
  'app.test-sms': { admin: true },
  'app.message': { admin: true }, // the status of a test SMS
  'app.connection-check': { admin: true }, // asks Bitrix24 for a test event
  'app.connection-status': { admin: true }, // whether it arrived
  'app.log': { admin: false }, // message log pages and the CSV export
} as const;
export type Purpose = keyof typeof PURPOSES;

/** For whom a token was minted: the portal, the Bitrix24 user, and whether Bitrix24 said they are an administrator. */
export interface Holder {
  pid: number;
  mid: string;
  uid: number;
  admin: boolean;
  lang: Lang;
}

interface Signed extends Holder {
  p: Purpose;
}

// Tokens travel in hidden fields and are bearer credentials: short-lived, renewed each time a page is rendered.
const FORM_TOKEN_TTL_MS = 30 * 60_000;

/** A refused token still names its portal and its holder's language when it is genuine (expired, or for another action). */
export type Opened =
  | { ok: true; holder: Holder }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'expired' | 'not_admin' | 'wrong_purpose'; pid: number; lang: Lang };

/** Signed, expiring, purpose-bound tokens for the frame pages' hidden `state` fields (no cookies in third-party frames). */
export function createFormTokens(crypto: Crypto, clock: Clock) {
  function mint(holder: Holder, p: Purpose): string {
    if (PURPOSES[p].admin && !holder.admin) throw new Error(`a ${p} token is for administrators only`);
    const { pid, mid, uid, admin, lang } = holder;
    return crypto.sign({ p, pid, mid, uid, admin, lang } satisfies Signed, clock() + FORM_TOKEN_TTL_MS);
  }

  /** `not_admin` and `wrong_purpose`: a genuine, unexpired token, but not one that allows this action. */
  function open(token: unknown, p: Purpose): Opened {
    const raw = typeof token === 'string' ? token : '';
    const v = crypto.verify<Signed>(raw, clock());
    const s = v.ok ? v.value : crypto.readSigned<Signed>(raw);
    if (typeof s !== 'object' || s === null || !Number.isInteger(s.pid) || typeof s.mid !== 'string' || !(s.p in PURPOSES)) return { ok: false, reason: 'invalid' };
    const lang: Lang = s.lang === 'ru' ? 'ru' : 'en';
    if (!v.ok) return { ok: false, reason: 'expired', pid: s.pid, lang };
    if (PURPOSES[p].admin && s.admin !== true) return { ok: false, reason: 'not_admin', pid: s.pid, lang };
    if (s.p !== p) return { ok: false, reason: 'wrong_purpose', pid: s.pid, lang };
    return { ok: true, holder: { pid: s.pid, mid: s.mid, uid: s.uid, admin: s.admin === true, lang } };
  }

  return { mint, open };
}

export type FormTokens = ReturnType<typeof createFormTokens>;
