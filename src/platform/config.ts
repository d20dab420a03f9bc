import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';

const url = z
  .string()
  .url()
  .transform((s) => s.replace(/\/+$/, ''));

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** 20_000 → "20s": bounds in messages, in the units they are written in. */
function formatMs(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) if (ms >= UNITS[unit] && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  return `${ms}ms`;
}

/**
 * "90s", "5m", "24h", "3d" or plain milliseconds, from `min` to `max`. A duration that becomes a timer's delay stays
 * under 2^31 ms: past it node fires the timer after 1 ms, again and again. Only an age compared with the clock
 * (MESSAGE_RETENTION) may be longer.
 */
const duration = (min: number, max: number) =>
  z.string().transform((s, ctx) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
    const ms = m ? Math.round(Number(m[1]) * UNITS[(m[2] ?? 'ms') as 'ms']) : NaN;
    if (!(ms >= min && ms <= max)) {
      ctx.addIssue({ code: 'custom', message: `must be from ${formatMs(min)} to ${formatMs(max)}, written as 90s, 5m, 24h, 3d or plain milliseconds` });
      return z.NEVER;
    }
    return ms;
  });

/** A whole number from `min` to `max`, digits only: Number() would also take " ", "0x1F90" and "1e3". */
const int = (min: number, max: number) =>
  z.string().trim().transform((s, ctx) => {
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
      ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return Number(s);
  });

/** "10.0.0.1", "10.0.0.0/8", "fd00::/8": an address, optionally with a prefix length its family allows. */
function isAddressOrCidr(s: string): boolean {
  const [address, prefix, extra] = s.split('/');
  const family = isIP(address ?? '');
  if (!family || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

const bool = z.enum(['1', '0', 'true', 'false', 'yes', 'no']).transform((v) => ['1', 'true', 'yes'].includes(v));

/**
 * Express's `trust proxy`: a hop count, or `loopback` / `linklocal` / `uniquelocal` / addresses / CIDRs
 * separated by commas. `true` (trust every hop) is refused: anyone could then choose their own address.
 */
const trustProxy = z.string().transform((s, ctx) => {
  const v = s.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const parts = v.split(',').map((p) => p.trim()).filter(Boolean);
  const ok = parts.length > 0 && parts.every((p) => ['loopback', 'linklocal', 'uniquelocal'].includes(p) || isAddressOrCidr(p));
  if (!ok) {
    ctx.addIssue({ code: 'custom', message: 'must be a hop count, loopback, linklocal, uniquelocal, or addresses/CIDRs separated by commas' });
    return z.NEVER;
  }
  return parts;
});

const schema = z.object({
  PORT: int(1, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: url.optional(), // unset: http://localhost:${PORT}
  // A SQLite file's path, or postgres://…: any other scheme (sqlite:…, file:…) would quietly become a file of that name.
  DATABASE_URL: z
    .string()
    .min(1)
    .default('data/app.sqlite')
    .refine((u) => /^postgres(ql)?:\/\//.test(u) || !/^[a-z][a-z0-9+.-]+:/i.test(u), 'a SQLite file path (data/app.sqlite) or postgres://user@host/db'),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a plain schema name').optional(), // PostgreSQL search_path
  B24_CLIENT_ID: z.string().default(''),
  B24_CLIENT_SECRET: z.string().default(''),
  B24_OAUTH_URL: url.default('https://oauth.bitrix.info'),
  SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  ADMIN_PASSWORD: z.string().refine((s) => s.trim().length >= 8, 'must be at least 8 characters, not counting spaces around them').optional(), // unset: the operator console is off
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Bitrix24's own leaky bucket is burst 50, 2 requests/s per portal (reference §6).
  B24_RATE_BURST: int(1, 10_000).default(50),
  B24_RATE_PER_SECOND: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number of requests per second such as 2 or 0.5')
    .transform(Number)
    .refine((n) => n > 0 && n <= 1000, 'must be more than 0 and at most 1000')
    .default(2),
  // How much later than we send a call may reach Bitrix24 (network, a busy host): that much of the bucket is kept free.
  B24_RATE_JITTER: duration(0, 10_000).default(300),
  B24_TIMEOUT_MS: duration(100, 3_600_000).default(15_000),
  // Daily by default: refresh the token pair of portals idle for 20 days (refresh tokens die unused after 28).
  TOKEN_KEEPER_CRON: z.string().default('17 3 * * *'),
  // Bitrix24's JS SDK, which the install page needs for BX24.installFinish(); `npm run demo` serves its own.
  B24_JS_SDK_URL: z.string().regex(/^(https?:)?\/\/[^\s"'<>]+$/, 'must be an http(s) or protocol-relative URL').default('//api.bitrix24.com/api/v1/'),
  // Delivery pipeline.
  SMSRU_API_URL: url.default('https://sms.ru'),
  SMSCRU_API_URL: url.default('https://smsc.ru'),
  // SMSC.ru requests of one login in flight per process, over all portals using it: SMSC refuses 15 at once (error 9).
  SMSCRU_CONCURRENCY: int(1, 14).default(8),
  GATEWAY_TIMEOUT_MS: duration(100, 3_600_000).default(15_000),
  WORKER_ENABLED: bool.default(true),
  /** Where `npm start` runs the send worker and jobs: `auto` = a second process when the machine has more than one core. */
  WORKER_PROCESS: z.enum(['auto', '1', '0']).default('auto'),
  /** How much lower than the web process's the background process's CPU priority is (niceness added; see background-process.ts). */
  WORKER_NICENESS: int(0, 19).default(0),
  WORKER_CONCURRENCY: int(1, 1000).default(32),
  GATEWAY_CONCURRENCY: int(1, 1000).default(8),
  WORKER_LEASE: duration(1_000, 3_600_000).default(20_000),
  WORKER_POLL: duration(10, 3_600_000).default(1_000), // fallback wake-up (retries coming due, SQLite with separate workers)
  SEND_MAX_AGE: duration(60_000, 24 * 86_400_000).default(24 * 3_600_000),
  // Claims that never reached a gateway (a crash, an error before sending) are tried at most this often.
  SEND_MAX_ATTEMPTS: int(1, 1000).default(10),
  RETRY_BASE: duration(100, 3_600_000).default(2_000),
  RETRY_CAP: duration(100, 86_400_000).default(5 * 60_000),
  STATUS_POLL_CRON: z.string().default('* * * * *'),
  // Hourly: are the portals' providers and events still there (an app update deletes the providers)? Six fields
  // (seconds first) are allowed.
  PROVIDER_CHECK_CRON: z.string().default('23 * * * *'),
  STATUS_MAX_AGE: duration(60_000, 24 * 86_400_000).default(72 * 3_600_000),
  UNKNOWN_OUTCOME_WINDOW: duration(1_000, 7 * 86_400_000).default(15 * 60_000),
  // SMPP accounts (gateways.md §6): bind_transceiver sessions per account in each worker process (centres allow an
  // account few binds, and every worker process opens its own); enquire_link when a bind was quiet this long; a bind
  // unused this long is unbound; reconnects after a drop wait from the base, doubling, up to the cap.
  SMPP_BINDS: int(1, 10).default(1),
  SMPP_ENQUIRE_LINK: duration(1_000, 3_600_000).default(30_000),
  SMPP_IDLE: duration(1_000, 86_400_000).default(10 * 60_000),
  SMPP_RECONNECT_BASE: duration(10, 3_600_000).default(1_000),
  SMPP_RECONNECT_CAP: duration(10, 3_600_000).default(60_000),
  // A gateway that can look a message up by our id (SMSC.ru) and says "not found" this long after a lost answer: the
  // send never arrived, and it is sent again, once. At least a minute: SMSC refuses the same send twice within one.
  UNKNOWN_OUTCOME_GRACE: duration(60_000, 86_400_000).default(2 * 60_000),
  // The sandbox gateway reports a message's fate this long (±50 %) after it was sent.
  SANDBOX_DELAY: duration(0, 3_600_000).default(2_000),
  REPORT_LINGER: duration(0, 60_000).default(500),
  REPORT_MAX_AGE: duration(60_000, 24 * 86_400_000).default(14 * 86_400_000),
  // Texts of final messages older than this are erased (hourly); the rows' metadata stays for the log and figures.
  MESSAGE_RETENTION: duration(3_600_000, 3650 * 86_400_000).default(90 * 86_400_000),
  // Multi-tenant safety.
  // Gateway addresses typed on a portal's form (Kannel URL) may not reach loopback, private, link-local or
  // metadata addresses unless the operator allows it (single-company deployments with their own Kannel).
  ALLOW_PRIVATE_GATEWAYS: bool.default(false),
  // A portal's REST endpoint (an on-premise Bitrix24's domain is its owner's choice) likewise, unless allowed
  // (a single-company deployment next to its own on-premise Bitrix24).
  ALLOW_PRIVATE_PORTALS: bool.default(false),
  // A plain-http PUBLIC_URL that is not this machine is refused unless the operator says so (a TLS proxy in front).
  ALLOW_HTTP_PUBLIC_URL: bool.default(false),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(), // unset: /metrics is open
  TRUST_PROXY: trustProxy.optional(), // unset: no proxy is trusted, the socket's address counts
});

export type Config = Omit<z.infer<typeof schema>, 'PUBLIC_URL'> & {
  PUBLIC_URL: string;
  databaseClient: 'pg' | 'better-sqlite3';
};

export class ConfigError extends Error {}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** PUBLIC_URL names this machine: fine for trying the app, unreachable for Bitrix24. */
export const isLocalUrl = (u: string) => LOCAL_HOSTS.has(new URL(u).hostname);

/**
 * Settings that work but are risky, logged at start-up. Not refused: the crash test deliberately runs a worker
 * whose lease is shorter than its gateway timeout, so that a killed worker's claims come back quickly.
 */
export function configWarnings(cfg: Config): string[] {
  const out: string[] = [];
  // A claim should outlive the longest send, or another process's reaper takes a message still in flight and an
  // accepted send is recorded as an unknown outcome.
  // Leases are renewed every quarter of WORKER_LEASE while a message is in hand: a short one costs a write that often,
  // and an event loop stalled for longer than one lease lets another worker take the claim (safe, never a resend).
  if (cfg.WORKER_LEASE < 4_000) out.push(`WORKER_LEASE (${cfg.WORKER_LEASE} ms) is under 4 s: claims are renewed every ${cfg.WORKER_LEASE / 4} ms`);
  // The backoffs are min(cap, base × 2^n): a base above the cap makes every wait the cap.
  if (cfg.RETRY_BASE > cfg.RETRY_CAP) out.push(`RETRY_BASE (${cfg.RETRY_BASE} ms) is above RETRY_CAP (${cfg.RETRY_CAP} ms): every retry waits about RETRY_CAP`);
  if (cfg.SMPP_RECONNECT_BASE > cfg.SMPP_RECONNECT_CAP) {
    out.push(`SMPP_RECONNECT_BASE (${cfg.SMPP_RECONNECT_BASE} ms) is above SMPP_RECONNECT_CAP (${cfg.SMPP_RECONNECT_CAP} ms): every reconnect waits about SMPP_RECONNECT_CAP`);
  }
  // A message may first be sent SEND_MAX_AGE after it arrived, while STATUS_MAX_AGE counts from its arrival too: one
  // sent that late would be ended "undelivered" at the next status run, before its gateway was ever asked.
  if (cfg.SEND_MAX_AGE >= cfg.STATUS_MAX_AGE) {
    out.push(`SEND_MAX_AGE (${cfg.SEND_MAX_AGE} ms) is not under STATUS_MAX_AGE (${cfg.STATUS_MAX_AGE} ms): a message sent late is ended "undelivered" before its status is ever asked`);
  }
  // A lost answer is looked up only after UNKNOWN_OUTCOME_GRACE; a window that ends first fails it before the lookup
  // that would have found it delivered, or sent it again when the gateway never got it.
  if (cfg.UNKNOWN_OUTCOME_WINDOW <= cfg.UNKNOWN_OUTCOME_GRACE) {
    out.push(`UNKNOWN_OUTCOME_WINDOW (${cfg.UNKNOWN_OUTCOME_WINDOW} ms) is not above UNKNOWN_OUTCOME_GRACE (${cfg.UNKNOWN_OUTCOME_GRACE} ms): lost answers are failed "outcome unknown" before they are looked up`);
  }
  // Portals with messages in flight leave min(GATEWAY_CONCURRENCY, WORKER_CONCURRENCY / 4) slots free: with fewer
  // slots, four busy portals fill the worker (fairness, README "Keep WORKER_CONCURRENCY at least 4 × …").
  if (cfg.WORKER_CONCURRENCY < 4 * cfg.GATEWAY_CONCURRENCY) {
    out.push(`WORKER_CONCURRENCY (${cfg.WORKER_CONCURRENCY}) is under 4 × GATEWAY_CONCURRENCY (${cfg.GATEWAY_CONCURRENCY}): a few busy portals can take every slot`);
  }
  // A hop count trusts the last N X-Forwarded-For entries whoever sent them: a client reaching the port directly
  // names its own address, which is what the console's login throttle counts.
  if (typeof cfg.TRUST_PROXY === 'number' && !['127.0.0.1', '::1', 'localhost'].includes(cfg.HOST)) {
    out.push(`TRUST_PROXY (${cfg.TRUST_PROXY}) is a hop count while HOST (${cfg.HOST}) lets clients reach PORT directly: they choose their own X-Forwarded-For address, and so their login-throttle bucket. Name the proxy's addresses instead, or listen on 127.0.0.1 behind it`);
  }
  // Bitrix24 calls PUBLIC_URL from its own servers, and refuses a localhost handler at registration (reference §3, §7).
  if (isLocalUrl(cfg.PUBLIC_URL)) {
    out.push(`PUBLIC_URL (${cfg.PUBLIC_URL}) is this machine: Bitrix24 cannot reach it, so no SMS or event will arrive; use a public https address (a tunnel for development)`);
  } else if (!cfg.PUBLIC_URL.startsWith('https:')) {
    out.push(`PUBLIC_URL (${cfg.PUBLIC_URL}) is plain http (ALLOW_HTTP_PUBLIC_URL): tokens and SMS texts cross the network unencrypted unless a proxy adds TLS`);
  }
  return out;
}

/** Settings whose values are never shown, not even in an error. */
const SECRETS = new Set(['SECRET_KEY', 'ADMIN_PASSWORD', 'METRICS_TOKEN', 'B24_CLIENT_SECRET']);

/** A URL's password, replaced: DATABASE_URL (and any other URL) is shown without it. */
export const withoutPassword = (s: string) => s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@');

/** A bad value's line: the variable, what is wrong, and (unless secret) the value received. */
function problem(env: Record<string, string | undefined>, name: string, message: string): string {
  const value = env[name];
  return value === undefined || SECRETS.has(name) ? `${name}: ${message}` : `${name}: ${message} (got ${JSON.stringify(withoutPassword(value))})`;
}

/** Parses the environment once; a bad value stops start-up with a message naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const invalid = (lines: string[]) => new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) throw invalid(parsed.error.issues.map((i) => problem(cleaned, i.path.join('.'), i.message)));
  const cfg = { ...parsed.data, PUBLIC_URL: parsed.data.PUBLIC_URL ?? `http://localhost:${parsed.data.PORT}` };
  const problems: string[] = [];
  for (const name of ['STATUS_POLL_CRON', 'TOKEN_KEEPER_CRON', 'PROVIDER_CHECK_CRON'] as const) {
    if (!cron.validate(cfg[name])) problems.push(problem(cleaned, name, 'not a cron expression'));
  }
  // The handler and event URLs are PUBLIC_URL + a path: a query or fragment would break them, and credentials would
  // be shown on the start page and sent to Bitrix24.
  const publicUrl = new URL(cfg.PUBLIC_URL);
  if (publicUrl.username || publicUrl.password || /[?#]/.test(cfg.PUBLIC_URL)) {
    problems.push(problem(cleaned, 'PUBLIC_URL', 'must be a plain base URL (https://host[:port][/path]), without user:password@, ?query or #fragment'));
  }
  // Bitrix24 sends every SMS with its text and the portal's application token to PUBLIC_URL (reference §7).
  const protocol = publicUrl.protocol;
  if (protocol !== 'https:' && !(protocol === 'http:' && (isLocalUrl(cfg.PUBLIC_URL) || cfg.ALLOW_HTTP_PUBLIC_URL))) {
    problems.push(
      problem(
        cleaned,
        'PUBLIC_URL',
        'must be https (Bitrix24 sends SMS texts and tokens to it); plain http only for localhost, 127.0.0.1 or [::1], ' +
          'or with ALLOW_HTTP_PUBLIC_URL=1 behind a proxy that adds TLS',
      ),
    );
  }
  if (problems.length) throw invalid(problems);
  return {
    ...cfg,
    databaseClient: /^postgres(ql)?:\/\//.test(cfg.DATABASE_URL) ? 'pg' : 'better-sqlite3',
  };
}
