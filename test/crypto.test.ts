import { describe, expect, it } from 'vitest';
import { createCrypto, fingerprints, safeEqual, sameDigest, sha256hex } from '../src/platform/crypto.js';

describe('secrets at rest and signed forms', () => {
  const c = createCrypto('k'.repeat(40));

  it('encrypts with a fresh IV each time and decrypts back', () => {
    const a = c.encrypt('api-key-1');
    expect(a).not.toContain('api-key-1');
    expect(a).not.toBe(c.encrypt('api-key-1'));
    expect(c.decrypt(a)).toBe('api-key-1');
  });

  it('refuses tampered ciphertext and another key', () => {
    const a = c.encrypt('secret');
    const parts = a.split('.');
    parts[3] = Buffer.from('other').toString('base64url');
    expect(() => c.decrypt(parts.join('.'))).toThrow();
    expect(() => createCrypto('z'.repeat(40)).decrypt(a)).toThrow();
  });

  it('signs form state that expires and cannot be altered', () => {
    const token = c.sign({ pid: 1 }, 1000);
    expect(c.verify(token, 999)).toEqual({ ok: true, value: { pid: 1 } });
    expect(c.verify(token, 1001)).toEqual({ ok: false, reason: 'expired' });
    const forged = Buffer.from(JSON.stringify({ v: { pid: 2 }, exp: 1000 })).toString('base64url') + '.' + token.split('.')[1];
    expect(c.verify(forged, 999)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('compares secrets without a shortcut on length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });

  it('compares digests and fingerprints of tokens, never the tokens themselves', () => {
    expect(sameDigest(sha256hex('key'), sha256hex('key'))).toBe(true);
    expect(sameDigest(sha256hex('key'), sha256hex('kez'))).toBe(false);
    expect(sameDigest(sha256hex('key'), sha256hex('key').slice(1))).toBe(false);
    const mine = fingerprints();
    expect(mine('token-1').equals(mine('token-1'))).toBe(true);
    expect(mine('token-1').equals(mine('token-2'))).toBe(false);
    // Another process (another key) fingerprints the same token differently.
    expect(fingerprints()('token-1').equals(mine('token-1'))).toBe(false);
  });
});
