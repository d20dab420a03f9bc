import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets at rest: AES-256-GCM, "v1.<iv>.<tag>.<ciphertext>" in base64url.
 * Encryption and form signing use separate keys derived from SECRET_KEY with HKDF.
 */
export function createCrypto(secretKey: string) {
  const subKey = (info: string) => Buffer.from(hkdfSync('sha256', secretKey, 'b24-sms-provider', info, 32));
  const encKey = subKey('encrypt-v1');
  const signKey = subKey('sign-v1');

  function encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', encKey, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), data].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  function decrypt(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed value');
    const decipher = createDecipheriv('aes-256-gcm', encKey, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }

  const mac = (payload: string) => createHmac('sha256', signKey).update(payload).digest('base64url');

  /** A tamper-proof, expiring token for hidden form fields (no cookies in third-party frames). */
  function sign(value: object, expiresAt: number): string {
    const payload = Buffer.from(JSON.stringify({ v: value, exp: expiresAt })).toString('base64url');
    return `${payload}.${mac(payload)}`;
  }

  /** Returns the signed value, or 'invalid' / 'expired'. */
  function verify<T>(token: string, now: number): { ok: true; value: T } | { ok: false; reason: 'invalid' | 'expired' } {
    const [payload, sig] = token.split('.');
    if (!payload || !sig || !safeEqual(sig, mac(payload))) return { ok: false, reason: 'invalid' };
    const { v, exp } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { v: T; exp: number };
    return exp < now ? { ok: false, reason: 'expired' } : { ok: true, value: v };
  }

  /** The value of a genuine token whether or not it expired (to say whom an "expired" answer is for). */
  function readSigned<T>(token: string): T | undefined {
    const v = verify<T>(token, Number.NEGATIVE_INFINITY);
    return v.ok ? v.value : undefined;
  }

  /**
   * A stable secret derived for a purpose (e.g. the per-portal key in delivery-report URLs). Remembered: every
   * delivery report and every Kannel submit needs its portal's, and an HMAC each was 2 % of the web process's time.
   */
  const derived = new Map<string, string>();
  /** derivedToken, not remembered: for purposes of which there are many (one per message). */
  const derive = (purpose: string) => createHmac('sha256', signKey).update(purpose).digest('hex').slice(0, 32);
  const derivedToken = (purpose: string): string => {
    const known = derived.get(purpose);
    if (known !== undefined) return known;
    if (derived.size >= 10_000) derived.clear(); // one per portal in use: bounded all the same
    const t = derive(purpose);
    derived.set(purpose, t);
    return t;
  };

  return { encrypt, decrypt, sign, verify, readSigned, derivedToken, derive };
}

export type Crypto = ReturnType<typeof createCrypto>;

/** Constant-time string comparison (lengths are hashed away first). */
export function safeEqual(a: string, b: string): boolean {
  const ha = hash('sha256', a, 'buffer');
  const hb = hash('sha256', b, 'buffer');
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * A process-local fingerprint of a secret, for comparing a presented token with a known one in constant time without
 * keeping the token itself: SHA-256 of a random per-process key and the value. Never leaves the process, so no one
 * can extend or forge one; the one-shot hash is a third of an HMAC's cost, and the handler takes two per SMS.
 */
export function fingerprints(): (value: string) => Buffer {
  const key = randomBytes(32).toString('hex');
  return (value) => hash('sha256', `${key}:${value}`, 'buffer');
}

/** Two hex digests of one algorithm (public length), compared in constant time without hashing them again. */
export function sameDigest(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

// crypto.hash is the one-shot form (Node ≥ 20.12): a third of createHash's cost, and the handler hashes its key on every SMS.
export const sha256hex = (s: string) => hash('sha256', s, 'hex');
export const randomToken = (bytes = 24) => randomBytes(bytes).toString('base64url');
