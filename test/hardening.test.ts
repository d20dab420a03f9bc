import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestContext, type TestContext } from './helpers/app.js';
import { createLogger } from '../src/platform/logger.js';
import { ConfigError } from '../src/platform/config.js';
import { resolveSecretKey } from '../src/platform/secret-key.js';
import { createDb, migrate } from '../src/platform/db.js';

const mode = (path: string) => statSync(path).mode & 0o777;
const log = createLogger('silent');

describe('secret key file', () => {
  let dir: string;
  beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'b24sms-key-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is generated once into a directory only this user can read, and read back the same', () => {
    const file = join(dir, 'fresh', 'data', 'secret.key');
    const key = resolveSecretKey(undefined, file, log);
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(mode(join(dir, 'fresh', 'data'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(resolveSecretKey(undefined, file, log)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['blank', '  \n'],
    ['short', 'abc123\n'],
    ['31 characters', `${'k'.repeat(31)}\n`],
  ])('stops start-up when the file is %s', (_what, content) => {
    const file = join(dir, `bad-${content.length}.key`);
    writeFileSync(file, content);
    expect(() => resolveSecretKey(undefined, file, log)).toThrow(ConfigError);
    expect(() => resolveSecretKey(undefined, file, log)).toThrow(new RegExp(`${file}: holds \\d+ characters, a key needs at least 32`));
  });

  it('is not read when SECRET_KEY is configured', () => {
    const file = join(dir, 'empty.key');
    writeFileSync(file, '');
    expect(resolveSecretKey('c'.repeat(32), file, log)).toBe('c'.repeat(32));
  });
});

describe('SQLite database file', () => {
  let dir: string;
  beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'b24sms-db-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is created 0600 in a 0700 directory, and SQLite gives its -wal and -shm files the same mode', async () => {
    const file = join(dir, 'data', 'app.sqlite');
    const db = createDb(file);
    try {
      expect(mode(join(dir, 'data'))).toBe(0o700);
      expect(mode(file)).toBe(0o600); // before knex first opens it
      await migrate(db);
      for (const f of [`${file}-wal`, `${file}-shm`]) {
        expect(existsSync(f)).toBe(true);
        expect(mode(f)).toBe(0o600);
      }
    } finally {
      await db.destroy();
    }
  });

  it('keeps the mode of an existing file', async () => {
    const file = join(dir, 'existing.sqlite');
    writeFileSync(file, '', { mode: 0o640 });
    const db = createDb(file);
    await db.raw('select 1');
    await db.destroy();
    expect(mode(file)).toBe(0o640);
  });
});

describe('response headers', () => {
  let ctx: TestContext;
  beforeAll(async () => void (ctx = await createTestContext({ env: { ADMIN_PASSWORD: 'operator-secret-1' } })));
  afterAll(() => ctx.close());

  it('every answer carries nosniff, no-referrer, HSTS under https and a deny-all CSP', async () => {
    for (const res of [await request(ctx.app).get('/healthz'), await request(ctx.app).get('/nowhere'), await request(ctx.app).post('/handler').type('json').send('{}')]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });

  it('sends no HSTS when PUBLIC_URL is plain http', async () => {
    const plain = await createTestContext({ env: { PUBLIC_URL: 'http://127.0.0.1:3000' } });
    try {
      const res = await request(plain.app).get('/healthz');
      expect(res.headers['strict-transport-security']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    } finally {
      await plain.close();
    }
  });

  it('lets the console and the frame pages set their own CSP', async () => {
    const console = await request(ctx.app).get('/admin');
    expect(console.headers['content-security-policy']).toMatch(/^default-src 'self'.*frame-ancestors 'none'/);
    const frame = await request(ctx.app).post('/install?DOMAIN=shop.bitrix24.ru&PROTOCOL=1').type('form').send({});
    expect(frame.status).toBe(400);
    expect(frame.headers['content-security-policy']).toContain('frame-ancestors https://shop.bitrix24.ru');
    expect(frame.headers['content-security-policy']).not.toContain("default-src 'none'");
  });
});

describe('malformed requests', () => {
  let ctx: TestContext;
  const lines: Array<{ level: number; msg: string }> = [];
  beforeAll(async () => void (ctx = await createTestContext({ env: { ADMIN_PASSWORD: 'operator-secret-1' }, log: createLogger('info', { write: (s: string) => void lines.push(JSON.parse(s)) }) })));
  afterAll(() => ctx.close());

  it('answers 400 "malformed URL" to a malformed %-escape in the path, and logs no error for it', async () => {
    lines.length = 0;
    for (const path of ['/admin/portals/%ZZ/disable', '/dlr/smsru/%ZZ/secret', '/dlr/sandbox/1/%E0%A4%A/2']) {
      const res = await request(ctx.app).post(path).type('form').send({ csrf: 'x' });
      expect(res.status, path).toBe(400);
      expect(res.body, path).toEqual({ error: 'bad_request', message: 'malformed URL' });
    }
    expect(lines.filter((l) => l.level >= 50)).toEqual([]); // pino: 50 is error
  });

  it('answers 400 to a malformed console cookie', async () => {
    const page = await request(ctx.app).get('/admin').set('cookie', 'b24sms_admin=%E0%A4%A');
    expect(page.status).toBe(400);
    expect(page.body).toMatchObject({ error: 'invalid_cookie' });
    const login = await request(ctx.app).post('/admin/login').set('cookie', 'b24sms_device=%').type('form').send({ password: 'operator-secret-1' });
    expect(login.status).toBe(400);
    // Someone else's malformed cookie on the same host is none of our business.
    expect((await request(ctx.app).get('/admin').set('cookie', 'other=%E0%A4%A')).status).toBe(200);
  });

  it('says a form has too many fields when it does, and names the size limit that was exceeded', async () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `f${i}=1`).join('&');
    const handler = await request(ctx.app).post('/handler').type('form').send(fields(5001));
    expect(handler.status).toBe(413);
    expect(handler.body).toEqual({ error: 'too_many_fields', message: 'the form has too many fields' });
    const login = await request(ctx.app).post('/admin/login').type('form').send(fields(1001));
    expect(login.status).toBe(413);
    expect(login.body.error).toBe('too_many_fields');
    const big = await request(ctx.app).post('/admin/login').type('form').send(`password=${'x'.repeat(17 * 1024)}`);
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ error: 'payload_too_large', message: 'the body is larger than 16 kB' });
  });
});
