import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { configWarnings, loadConfig } from '../src/platform/config.js';
import { createCrypto, safeEqual } from '../src/platform/crypto.js';
import { maskPhone } from '../src/platform/logger.js';
import { normalizePhone } from '../src/messages/phone.js';
import { createLimiter } from '../src/bitrix/limiter.js';
import { senderCode } from '../src/portals/providers.js';
import { createTestContext } from './helpers/app.js';

describe('configuration', () => {
  it('runs with no configuration at all: port 3000, SQLite in data/app.sqlite', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, DATABASE_URL: 'data/app.sqlite', databaseClient: 'better-sqlite3', B24_OAUTH_URL: 'https://oauth.bitrix.info' });
  });

  it('selects PostgreSQL for a postgres:// DATABASE_URL and strips trailing slashes from URLs', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u@h/db', PUBLIC_URL: 'https://sms.example.com/' });
    expect(c.databaseClient).toBe('pg');
    expect(c.PUBLIC_URL).toBe('https://sms.example.com');
  });

  it('stops with a message naming the variable when a value is bad', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ PUBLIC_URL: 'not a url' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ SECRET_KEY: 'short' })).toThrow(/SECRET_KEY: must be at least 32/);
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('reads TRUST_PROXY as Express does, refusing "true" and anything that is no address, CIDR or keyword', () => {
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::/8, 192.168.1.7' }).TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
    for (const bad of ['true', 'abc', '1.2.3', '10.0.0.0/99', '::1/129', '10.0.0.1/8/8']) expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
  });

  it('warns about a claim lease no longer than a gateway request may take', () => {
    expect(configWarnings(loadConfig({ WORKER_LEASE: '10s', GATEWAY_TIMEOUT_MS: '15000' }))).toEqual([expect.stringMatching(/WORKER_LEASE .* should be longer than GATEWAY_TIMEOUT_MS/)]);
    expect(configWarnings(loadConfig({}))).toEqual([]);
  });
});

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
});

describe('phone numbers', () => {
  it.each([
    ['+7 (999) 123-45-67', '+79991234567'],
    ['89991234567', '+79991234567'],
    ['9991234567', '+79991234567'],
    ['+79172012345', '+79172012345'],
    ['+44 20 7946 0958', '+442079460958'],
  ])('normalises %s as typed in CRM to %s', (raw, e164) => {
    expect(normalizePhone(raw, 'RU')).toEqual({ ok: true, e164 });
  });

  it('uses the portal default country for national numbers', () => {
    expect(normalizePhone('050 123 4567', 'UA')).toEqual({ ok: true, e164: '+380501234567' });
  });

  it.each(['12', 'call me', '+7 999'])('rejects %s with a reason', (raw) => {
    const r = normalizePhone(raw, 'RU');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^invalid phone number/);
  });

  it('masks all but the last four digits for logs', () => {
    expect(maskPhone('+79991234567')).toBe('*******4567');
    expect(maskPhone('12')).toBe('****');
  });
});

describe('leaky-bucket limiter', () => {
  it('lets a burst through at once, then paces calls at the drain rate', async () => {
    let t = 0;
    const waits: number[] = [];
    const limiter = createLimiter({ burst: 50, perSecond: 2, now: () => t, sleep: async (ms) => { waits.push(ms); t += ms; } });
    expect(limiter.capacity).toBe(49);
    const done: number[] = [];
    for (let i = 0; i < 53; i++) {
      await limiter.acquire('p1');
      done.push(t);
    }
    expect(done.slice(0, 49).every((x) => x === 0)).toBe(true);
    expect(done.slice(49)).toEqual([500, 1000, 1500, 2000]);
    // Another portal has its own bucket.
    await limiter.acquire('p2');
    expect(t).toBe(2000);
  });
});

describe('provider codes', () => {
  it('are fixed per sender and use only the characters Bitrix24 allows', () => {
    expect(senderCode('MyShop')).toBe('smsgw_myshop');
    expect(senderCode('')).toBe('smsgw_default');
    expect(senderCode('My Shop!')).toBe('smsgw_my_shop');
    expect(senderCode('Магазин')).toMatch(/^smsgw_[0-9a-f]{12}$/);
    expect(senderCode('Магазин')).toBe(senderCode('Магазин'));
  });
});

describe('GET /healthz', () => {
  it('answers ok while the database answers, 503 when it does not', async () => {
    const ctx = await createTestContext();
    expect((await request(ctx.app).get('/healthz')).body).toEqual({ status: 'ok' });
    await ctx.close();
    const res = await request(ctx.app).get('/healthz');
    expect(res.status).toBe(503);
  });
});
