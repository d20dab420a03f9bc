/**
 * Retry delay after `attempt` failed tries (1-based): capped exponential with jitter.
 * Default: about 2 s, 4 s, 8 s … capped at 5 minutes; jitter spreads retries of many messages
 * (factor 0.75–1.25, never above the cap). Pure: the caller passes the random number and stores the result.
 */
export function backoffMs(attempt: number, random: number, opts: { baseMs?: number; capMs?: number } = {}): number {
  const base = opts.baseMs ?? 2_000;
  const cap = opts.capMs ?? 5 * 60_000;
  const raw = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.min(cap, raw * (0.75 + 0.5 * random)));
}
