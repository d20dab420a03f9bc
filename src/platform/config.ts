import { z } from 'zod';

const url = z
  .string()
  .url()
  .transform((s) => s.replace(/\/+$/, ''));

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: url.default('http://localhost:3000'),
  DATABASE_URL: z.string().min(1).default('data/app.sqlite'),
  B24_CLIENT_ID: z.string().default(''),
  B24_CLIENT_SECRET: z.string().default(''),
  B24_OAUTH_URL: url.default('https://oauth.bitrix.info'),
  SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Bitrix24's own leaky bucket is burst 50, 2 requests/s per portal (reference §6).
  B24_RATE_BURST: z.coerce.number().int().min(1).default(50),
  B24_RATE_PER_SECOND: z.coerce.number().positive().default(2),
  B24_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  // Daily by default: refresh the token pair of portals idle for 20 days (refresh tokens die unused after 28).
  TOKEN_KEEPER_CRON: z.string().default('17 3 * * *'),
});

export type Config = z.infer<typeof schema> & {
  databaseClient: 'pg' | 'better-sqlite3';
};

export class ConfigError extends Error {}

/** Parses the environment once; a bad value stops start-up with a message naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const cfg = parsed.data;
  return {
    ...cfg,
    databaseClient: /^postgres(ql)?:\/\//.test(cfg.DATABASE_URL) ? 'pg' : 'better-sqlite3',
  };
}
