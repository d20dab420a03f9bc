import { describe, expect, it } from 'vitest';
import { configWarnings, loadConfig } from '../src/platform/config.js';

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

  it('warns about a claim lease so short that renewing it loads the database', () => {
    expect(configWarnings(loadConfig({ WORKER_LEASE: '2s' }))).toEqual([expect.stringMatching(/WORKER_LEASE \(2000 ms\) is under 4 s/)]);
    expect(configWarnings(loadConfig({ WORKER_LEASE: '20s', GATEWAY_TIMEOUT_MS: '30000' }))).toEqual([]);
    expect(configWarnings(loadConfig({}))).toEqual([]);
  });
});
