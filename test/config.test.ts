import { describe, expect, it } from 'vitest';
import { configWarnings, loadConfig } from '../src/platform/config.js';

describe('configuration', () => {
  it('runs with no configuration at all: port 3000, SQLite in data/app.sqlite', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 3000, DATABASE_URL: 'data/app.sqlite', databaseClient: 'better-sqlite3', B24_OAUTH_URL: 'https://oauth.bitrix.info' });
  });

  it('refuses a DATABASE_URL with another scheme instead of making a file of that name', () => {
    for (const url of ['sqlite:///tmp/x.sqlite', 'file:data/app.sqlite', 'mysql://u@h/db']) {
      expect(() => loadConfig({ DATABASE_URL: url })).toThrow(/DATABASE_URL: a SQLite file path/);
    }
    expect(loadConfig({ DATABASE_URL: '/var/lib/sms/app.sqlite' }).databaseClient).toBe('better-sqlite3');
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
    const PUBLIC_URL = 'https://sms.example.com';
    expect(configWarnings(loadConfig({ PUBLIC_URL, WORKER_LEASE: '2s' }))).toEqual([expect.stringMatching(/WORKER_LEASE \(2000 ms\) is under 4 s/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, WORKER_LEASE: '20s', GATEWAY_TIMEOUT_MS: '30000' }))).toEqual([]);
    expect(configWarnings(loadConfig({ PUBLIC_URL }))).toEqual([]);
  });

  it('checks PROVIDER_CHECK_CRON as a cron expression: hourly by default, six fields (seconds) allowed', () => {
    expect(loadConfig({}).PROVIDER_CHECK_CRON).toBe('23 * * * *');
    expect(loadConfig({ PROVIDER_CHECK_CRON: '*/30 * * * * *' }).PROVIDER_CHECK_CRON).toBe('*/30 * * * * *');
    expect(loadConfig({ PROVIDER_CHECK_CRON: '0 */6 * * *' }).PROVIDER_CHECK_CRON).toBe('0 */6 * * *');
    for (const bad of ['hourly', '61 * * * *', '* * *']) expect(() => loadConfig({ PROVIDER_CHECK_CRON: bad }), bad).toThrow(/PROVIDER_CHECK_CRON/);
  });

  it('refuses a plain-http PUBLIC_URL that Bitrix24 would reach over the network, unless ALLOW_HTTP_PUBLIC_URL=1', () => {
    for (const bad of ['http://sms.example.com', 'http://203.0.113.7:3000', 'http://10.0.0.5', 'ftp://sms.example.com', 'ftp://localhost']) {
      expect(() => loadConfig({ PUBLIC_URL: bad }), bad).toThrow(/PUBLIC_URL: must be https/);
    }
    expect(() => loadConfig({ PUBLIC_URL: 'http://localhost.example.com' })).toThrow(/PUBLIC_URL/); // only the machine itself is local
    expect(loadConfig({ PUBLIC_URL: 'http://sms.example.com', ALLOW_HTTP_PUBLIC_URL: '1' }).PUBLIC_URL).toBe('http://sms.example.com');
    expect(() => loadConfig({ PUBLIC_URL: 'http://sms.example.com', ALLOW_HTTP_PUBLIC_URL: '0' })).toThrow(/PUBLIC_URL/);
    expect(() => loadConfig({ ALLOW_HTTP_PUBLIC_URL: 'maybe' })).toThrow(/ALLOW_HTTP_PUBLIC_URL/);
    for (const ok of ['https://sms.example.com', 'http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://LOCALHOST:3000']) {
      expect(() => loadConfig({ PUBLIC_URL: ok }), ok).not.toThrow();
    }
  });

  it('starts out of the box on localhost, warning that Bitrix24 cannot reach this machine; warns about allowed plain http', () => {
    for (const local of [{}, { PUBLIC_URL: 'http://127.0.0.1:3000' }, { PUBLIC_URL: 'http://[::1]:3000' }, { PUBLIC_URL: 'https://localhost' }]) {
      expect(configWarnings(loadConfig(local)), JSON.stringify(local)).toEqual([expect.stringMatching(/^PUBLIC_URL \(.+\) is this machine: Bitrix24 cannot reach it/)]);
    }
    expect(configWarnings(loadConfig({ PUBLIC_URL: 'http://sms.example.com', ALLOW_HTTP_PUBLIC_URL: '1' }))).toEqual([expect.stringMatching(/PUBLIC_URL .* is plain http/)]);
  });
});
