import { createHash } from 'node:crypto';

/**
 * A gate shared by every process: `take` takes one slot of `key` at `now` and answers 0, or takes nothing and answers
 * how many ms until one frees (`interval` apart, `tolerance` of burst). The database's rate_limits buckets
 * (src/bitrix/limiter.ts databaseBuckets) are one; the adapter only needs this much of them.
 */
export interface RateGate {
  take(key: string, now: number, interval: number, tolerance: number): Promise<number> | number;
}

/** One process alone (and tests without a database). */
export function memoryGate(): RateGate {
  const tat = new Map<string, number>();
  return {
    take(key, now, interval, tolerance) {
      const at = Math.max(tat.get(key) ?? now, now);
      if (at - tolerance > now) return at - tolerance - now;
      tat.set(key, at + interval);
      return 0;
    },
  };
}

/** SMSC.ru: at most one mass status request a minute per login (its status.php error 9 otherwise). */
export const MASS_STATUS_INTERVAL_MS = 60_000;
/** How long sends with credentials SMSC refused (error 2) fail without asking again: each refusal counts towards error 4. */
export const REFUSED_CREDENTIALS_MS = 5 * 60_000;
/**
 * Refused credential checks (the install and settings forms, the settings page's balance) of one portal in a minute,
 * per process, after which its checks wait for the minute to pass. `refused` stops the same wrong pair being asked
 * again, but a portal's administrator (or a script) posting a new wrong password or login each time would still
 * send SMSC a refusal per post, and SMSC blocks this server's address (error 4) for every portal after enough of
 * them. Checks SMSC accepts do not count: an administrator may open the page as often as they like.
 */
export const CREDENTIAL_REFUSALS_PER_MINUTE = 5;

const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/**
 * What the SMSC.ru adapters of one process share. Several portals may use one login, and the accounts cache builds
 * a new adapter every few seconds, so the state lives here (one per process: the sending adapters and the settings
 * page's balance share it, deps.ts), keyed by login:
 * - at most `concurrency` requests of a login in flight in this process (SMSC answers error 9 beyond 15 at once;
 *   GATEWAY_CONCURRENCY counts per portal, and several portals may share a login);
 * - the one mass status request a minute, through the shared gate, so every process and portal of a login keeps it;
 * - after error 4 (this server's address blocked) nothing is asked for a while: asking while blocked only extends it;
 * - after error 2 (wrong login or password) sends and credential checks with those credentials fail without asking,
 *   for a while; and a portal whose credential checks were refused a few times in a minute waits for the minute
 *   (CREDENTIAL_REFUSALS_PER_MINUTE).
 * Logins and passwords are kept only as digests.
 */
export function createSmscRuLimits(opts: { gate?: RateGate; clock: () => number; concurrency: number }) {
  const gate = opts.gate ?? memoryGate();
  const running = new Map<string, number>();
  const queues = new Map<string, Array<() => void>>();
  const refused = new Map<string, number>();
  const checks = new Map<string, number[]>();
  let blockedUntil = 0;

  /** Runs `fn` in one of the login's slots, waiting in line for one. */
  async function inSlot<T>(login: string, fn: () => Promise<T>): Promise<T> {
    const key = digest(login.toLowerCase());
    if ((running.get(key) ?? 0) >= opts.concurrency) {
      await new Promise<void>((r) => queues.set(key, [...(queues.get(key) ?? []), r]));
    } else {
      running.set(key, (running.get(key) ?? 0) + 1);
    }
    try {
      return await fn();
    } finally {
      const next = queues.get(key)?.shift();
      if (queues.get(key)?.length === 0) queues.delete(key);
      if (next) next(); // the slot passes on to the next in line
      else if ((running.get(key) ?? 1) <= 1) running.delete(key);
      else running.set(key, running.get(key)! - 1);
    }
  }

  return {
    inSlot,
    /** 0 when a mass status request of `login` may go now (the slot is taken), else the ms to wait. */
    massStatus: async (login: string) => gate.take(`smscru:status:${digest(login.toLowerCase())}`, opts.clock(), MASS_STATUS_INTERVAL_MS, 0),
    /** Ms left of a block after error 4 (0: not blocked). */
    blockedFor: () => Math.max(0, blockedUntil - opts.clock()),
    block: (ms: number) => void (blockedUntil = Math.max(blockedUntil, opts.clock() + ms)),
    refusedNow: (login: string, password: string) => (refused.get(digest(login, password)) ?? 0) > opts.clock(),
    refuse(login: string, password: string) {
      const now = opts.clock();
      if (refused.size >= 1_000) for (const [k, until] of refused) if (until <= now) refused.delete(k);
      refused.set(digest(login, password), now + REFUSED_CREDENTIALS_MS);
    },
    accepted: (login: string, password: string) => void refused.delete(digest(login, password)),
    /** 0 when a credential check of `portalId` may go to SMSC now, else the ms until its refusals allow one. */
    credentialCheckWait(portalId: number) {
      const now = opts.clock();
      const recent = (checks.get(String(portalId)) ?? []).filter((t) => now - t < 60_000);
      return recent.length >= CREDENTIAL_REFUSALS_PER_MINUTE ? recent[0]! + 60_000 - now : 0;
    },
    /** SMSC refused a credential check of `portalId` (error 2). */
    credentialCheckRefused(portalId: number) {
      const now = opts.clock();
      if (checks.size >= 1_000) for (const [k, at] of checks) if (at.every((t) => now - t >= 60_000)) checks.delete(k);
      checks.set(String(portalId), [...(checks.get(String(portalId)) ?? []).filter((t) => now - t < 60_000), now]);
    },
  };
}

export type SmscRuLimits = ReturnType<typeof createSmscRuLimits>;
