import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';

const url = z
  .string()
  .url()
  .transform((s) => s.replace(/\/+$/, ''));

/** "90s", "5m", "24h", "3d" or plain milliseconds. */
const duration = z.string().transform((s, ctx) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 5m, 24h, 3d or milliseconds' });
    return z.NEVER;
  }
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
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
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: url.default('http://localhost:3000'),
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
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(), // unset: the operator console is off
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Bitrix24's own leaky bucket is burst 50, 2 requests/s per portal (reference §6).
  B24_RATE_BURST: z.coerce.number().int().min(1).default(50),
  B24_RATE_PER_SECOND: z.coerce.number().positive().default(2),
  // How much later than we send a call may reach Bitrix24 (network, a busy host): that much of the bucket is kept free.
  B24_RATE_JITTER: duration.default(300),
  B24_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  // Daily by default: refresh the token pair of portals idle for 20 days (refresh tokens die unused after 28).
  TOKEN_KEEPER_CRON: z.string().default('17 3 * * *'),
  // Bitrix24's JS SDK, which the install page needs for BX24.installFinish(); `npm run demo` serves its own.
  B24_JS_SDK_URL: z.string().regex(/^(https?:)?\/\/[^\s"'<>]+$/, 'must be an http(s) or protocol-relative URL').default('//api.bitrix24.com/api/v1/'),
  // Delivery pipeline.
  SMSRU_API_URL: url.default('https://sms.ru'),
  SMSCRU_API_URL: url.default('https://smsc.ru'),
  // SMSC.ru requests of one login in flight per process, over all portals using it: SMSC refuses 15 at once (error 9).
  SMSCRU_CONCURRENCY: z.coerce.number().int().min(1).max(14).default(8),
  GATEWAY_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  WORKER_ENABLED: bool.default(true),
  /** Where `npm start` runs the send worker and jobs: `auto` = a second process when the machine has more than one core. */
  WORKER_PROCESS: z.enum(['auto', '1', '0']).default('auto'),
  /** How much lower than the web process's the background process's CPU priority is (niceness added; see background-process.ts). */
  WORKER_NICENESS: z.coerce.number().int().min(0).max(19).default(0),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  GATEWAY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  WORKER_LEASE: duration.default(20_000),
  WORKER_POLL: duration.default(1_000), // fallback wake-up (retries coming due, SQLite with separate workers)
  SEND_MAX_AGE: duration.default(24 * 3_600_000),
  // Claims that never reached a gateway (a crash, an error before sending) are tried at most this often.
  SEND_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(10),
  RETRY_BASE: duration.default(2_000),
  RETRY_CAP: duration.default(5 * 60_000),
  STATUS_POLL_CRON: z.string().default('* * * * *'),
  // Hourly: are the portals' providers and events still there (an app update deletes the providers)? Six fields
  // (seconds first) are allowed.
  PROVIDER_CHECK_CRON: z.string().default('23 * * * *'),
  STATUS_MAX_AGE: duration.default(72 * 3_600_000),
  UNKNOWN_OUTCOME_WINDOW: duration.default(15 * 60_000),
  // SMPP accounts (gateways.md §6): bind_transceiver sessions per account in each worker process (centres allow an
  // account few binds, and every worker process opens its own); enquire_link when a bind was quiet this long; a bind
  // unused this long is unbound; reconnects after a drop wait from the base, doubling, up to the cap.
  SMPP_BINDS: z.coerce.number().int().min(1).max(10).default(1),
  SMPP_ENQUIRE_LINK: duration.default(30_000),
  SMPP_IDLE: duration.default(10 * 60_000),
  SMPP_RECONNECT_BASE: duration.default(1_000),
  SMPP_RECONNECT_CAP: duration.default(60_000),
  // A gateway that can look a message up by our id (SMSC.ru) and says "not found" this long after a lost answer: the
  // send never arrived, and it is sent again, once. At least a minute: SMSC refuses the same send twice within one.
  UNKNOWN_OUTCOME_GRACE: duration.default(2 * 60_000).refine((ms) => ms >= 60_000, 'must be at least 1m'),
  // The sandbox gateway reports a message's fate this long (±50 %) after it was sent.
  SANDBOX_DELAY: duration.default(2_000),
  REPORT_LINGER: duration.default(500),
  REPORT_MAX_AGE: duration.default(14 * 86_400_000),
  // Texts of final messages older than this are erased (hourly); the rows' metadata stays for the log and figures.
  MESSAGE_RETENTION: duration.default(90 * 86_400_000),
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

export type Config = z.infer<typeof schema> & {
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
  // Bitrix24 calls PUBLIC_URL from its own servers, and refuses a localhost handler at registration (reference §3, §7).
  if (isLocalUrl(cfg.PUBLIC_URL)) {
    out.push(`PUBLIC_URL (${cfg.PUBLIC_URL}) is this machine: Bitrix24 cannot reach it, so no SMS or event will arrive; use a public https address (a tunnel for development)`);
  } else if (!cfg.PUBLIC_URL.startsWith('https:')) {
    out.push(`PUBLIC_URL (${cfg.PUBLIC_URL}) is plain http (ALLOW_HTTP_PUBLIC_URL): tokens and SMS texts cross the network unencrypted unless a proxy adds TLS`);
  }
  return out;
}

/** Parses the environment once; a bad value stops start-up with a message naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const cfg = parsed.data;
  if (!cron.validate(cfg.STATUS_POLL_CRON)) throw new ConfigError(`Invalid configuration:\n  STATUS_POLL_CRON: not a cron expression`);
  if (!cron.validate(cfg.TOKEN_KEEPER_CRON)) throw new ConfigError(`Invalid configuration:\n  TOKEN_KEEPER_CRON: not a cron expression`);
  if (!cron.validate(cfg.PROVIDER_CHECK_CRON)) throw new ConfigError(`Invalid configuration:\n  PROVIDER_CHECK_CRON: not a cron expression`);
  // Bitrix24 sends every SMS with its text and the portal's application token to PUBLIC_URL (reference §7).
  const protocol = new URL(cfg.PUBLIC_URL).protocol;
  if (protocol !== 'https:' && !(protocol === 'http:' && (isLocalUrl(cfg.PUBLIC_URL) || cfg.ALLOW_HTTP_PUBLIC_URL))) {
    throw new ConfigError(
      `Invalid configuration:\n  PUBLIC_URL: must be https (Bitrix24 sends SMS texts and tokens to it); plain http only for localhost, ` +
        `127.0.0.1 or [::1], or with ALLOW_HTTP_PUBLIC_URL=1 behind a proxy that adds TLS`,
    );
  }
  return {
    ...cfg,
    databaseClient: /^postgres(ql)?:\/\//.test(cfg.DATABASE_URL) ? 'pg' : 'better-sqlite3',
  };
}
