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
    // Spaces around a value (an env file's trailing blank) are no part of it, for numbers as for durations.
    expect(loadConfig({ WORKER_CONCURRENCY: '32 ', B24_RATE_PER_SECOND: ' 0.5', RETRY_BASE: ' 2s ' })).toMatchObject({ WORKER_CONCURRENCY: 32, B24_RATE_PER_SECOND: 0.5, RETRY_BASE: 2000 });
    // A hop count on an open port: clients choose their own forwarded address. Named proxies, or a loopback HOST, are fine.
    expect(configWarnings(loadConfig({ PUBLIC_URL, TRUST_PROXY: '1' }))).toEqual([expect.stringMatching(/TRUST_PROXY \(1\) is a hop count while HOST \(0\.0\.0\.0\)/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, TRUST_PROXY: '1', HOST: '127.0.0.1' }))).toEqual([]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, TRUST_PROXY: '10.0.0.5' }))).toEqual([]);
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

  it('refuses durations a timer cannot hold or that would spin, naming the variable, the value and the range', () => {
    expect(() => loadConfig({ WORKER_POLL: '30d' })).toThrow(/WORKER_POLL: must be from 10ms to 1h, .* \(got "30d"\)/);
    expect(() => loadConfig({ WORKER_POLL: '0' })).toThrow(/WORKER_POLL: must be from 10ms to 1h/);
    expect(() => loadConfig({ WORKER_LEASE: '0' })).toThrow(/WORKER_LEASE: must be from 1s to 1h, .* \(got "0"\)/);
    for (const name of ['B24_RATE_JITTER', 'WORKER_LEASE', 'WORKER_POLL', 'SEND_MAX_AGE', 'RETRY_BASE', 'RETRY_CAP', 'STATUS_MAX_AGE',
      'UNKNOWN_OUTCOME_WINDOW', 'SMPP_ENQUIRE_LINK', 'SMPP_IDLE', 'SMPP_RECONNECT_BASE', 'SMPP_RECONNECT_CAP', 'UNKNOWN_OUTCOME_GRACE',
      'SANDBOX_DELAY', 'REPORT_LINGER', 'REPORT_MAX_AGE', 'B24_TIMEOUT_MS', 'GATEWAY_TIMEOUT_MS']) {
      expect(() => loadConfig({ [name]: '25d' }), name).toThrow(new RegExp(`${name}: must be from .* \\(got "25d"\\)`)); // over 2^31 ms
    }
    expect(() => loadConfig({ MESSAGE_RETENTION: '3651d' })).toThrow(/MESSAGE_RETENTION: must be from 1h to 3650d/);
    expect(loadConfig({ WORKER_POLL: '10ms', WORKER_LEASE: '1s', REPORT_LINGER: '0', MESSAGE_RETENTION: '365d' })).toMatchObject({ WORKER_POLL: 10, WORKER_LEASE: 1000, REPORT_LINGER: 0, MESSAGE_RETENTION: 365 * 86_400_000 });
  });

  it('takes PORT as digits only, from 1 to 65535', () => {
    for (const bad of [' ', '0x1F90', '1e3', '0', '65536', '-1', '3000.5']) expect(() => loadConfig({ PORT: bad }), bad).toThrow(`PORT: must be a whole number from 1 to 65535 (got ${JSON.stringify(bad)})`);
    expect(loadConfig({ PORT: '8080' }).PORT).toBe(8080);
  });

  it('defaults PUBLIC_URL to localhost on PORT', () => {
    expect(loadConfig({ PORT: '3917' }).PUBLIC_URL).toBe('http://localhost:3917');
    expect(loadConfig({}).PUBLIC_URL).toBe('http://localhost:3000');
    expect(loadConfig({ PORT: '3917', PUBLIC_URL: 'https://sms.example.com' }).PUBLIC_URL).toBe('https://sms.example.com');
  });

  it('refuses a PUBLIC_URL with credentials, a query or a fragment, without showing the password', () => {
    for (const bad of ['https://user:hunter2@sms.example.com', 'https://user@sms.example.com', 'https://sms.example.com/?a=1', 'https://sms.example.com/#top', 'https://sms.example.com?']) {
      expect(() => loadConfig({ PUBLIC_URL: bad }), bad).toThrow(/PUBLIC_URL: must be a plain base URL/);
    }
    expect(() => loadConfig({ PUBLIC_URL: 'https://user:hunter2@sms.example.com' })).toThrow(/got "https:\/\/user:\*\*\*@sms\.example\.com"/);
    expect(() => loadConfig({ PUBLIC_URL: 'https://user:hunter2@sms.example.com' })).not.toThrow(/hunter2/);
    expect(loadConfig({ PUBLIC_URL: 'https://sms.example.com/b24' }).PUBLIC_URL).toBe('https://sms.example.com/b24');
  });

  it('warns about combinations the README advises against', () => {
    const PUBLIC_URL = 'https://sms.example.com';
    expect(configWarnings(loadConfig({ PUBLIC_URL, RETRY_BASE: '10m', RETRY_CAP: '5m' }))).toEqual([expect.stringMatching(/^RETRY_BASE \(600000 ms\) is above RETRY_CAP \(300000 ms\)/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, SMPP_RECONNECT_BASE: '2m', SMPP_RECONNECT_CAP: '1m' }))).toEqual([expect.stringMatching(/^SMPP_RECONNECT_BASE \(120000 ms\) is above SMPP_RECONNECT_CAP/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, WORKER_CONCURRENCY: '31', GATEWAY_CONCURRENCY: '8' }))).toEqual([expect.stringMatching(/^WORKER_CONCURRENCY \(31\) is under 4 × GATEWAY_CONCURRENCY \(8\)/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, SEND_MAX_AGE: '3d', STATUS_MAX_AGE: '3d' }))).toEqual([expect.stringMatching(/^SEND_MAX_AGE \(259200000 ms\) is not under STATUS_MAX_AGE \(259200000 ms\)/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, UNKNOWN_OUTCOME_WINDOW: '90s', UNKNOWN_OUTCOME_GRACE: '2m' }))).toEqual([expect.stringMatching(/^UNKNOWN_OUTCOME_WINDOW \(90000 ms\) is not above UNKNOWN_OUTCOME_GRACE \(120000 ms\)/)]);
    expect(configWarnings(loadConfig({ PUBLIC_URL, WORKER_CONCURRENCY: '32', GATEWAY_CONCURRENCY: '8', RETRY_BASE: '5m', SMPP_RECONNECT_BASE: '1m', SEND_MAX_AGE: '2d', UNKNOWN_OUTCOME_WINDOW: '3m' }))).toEqual([]);
  });

  it('echoes the value received in every error, except secrets', () => {
    expect(() => loadConfig({ B24_TIMEOUT_MS: '15 seconds' })).toThrow('B24_TIMEOUT_MS: must be from 100ms to 1h, written as 90s, 5m, 24h, 3d or plain milliseconds (got "15 seconds")');
    expect(loadConfig({ B24_TIMEOUT_MS: '15s' }).B24_TIMEOUT_MS).toBe(15_000);
    expect(() => loadConfig({ LOG_LEVEL: 'info ' })).toThrow(/LOG_LEVEL: .* \(got "info "\)/);
    expect(() => loadConfig({ STATUS_POLL_CRON: 'often' })).toThrow('STATUS_POLL_CRON: not a cron expression (got "often")');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(/DATABASE_URL: .* \(got "mysql:\/\/u:\*\*\*@h\/db"\)/);
    for (const [name, value] of [['SECRET_KEY', 'short-secret'], ['ADMIN_PASSWORD', 'short'], ['METRICS_TOKEN', 'short-token']] as const) {
      expect(() => loadConfig({ [name]: value }), name).toThrow(new RegExp(`^Invalid configuration:\n  ${name}: must be at least \\d+ characters[^\n]*$`));
      expect(() => loadConfig({ [name]: value }), name).not.toThrow(value);
    }
  });

  it('refuses an ADMIN_PASSWORD of spaces', () => {
    expect(() => loadConfig({ ADMIN_PASSWORD: '        ' })).toThrow(/ADMIN_PASSWORD: must be at least 8 characters/);
    expect(() => loadConfig({ ADMIN_PASSWORD: '  abc   ' })).toThrow(/ADMIN_PASSWORD/);
    expect(loadConfig({ ADMIN_PASSWORD: 'correct horse' }).ADMIN_PASSWORD).toBe('correct horse');
  });
});
