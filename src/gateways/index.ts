import type { Dispatcher } from 'undici';
import type { Log } from '../platform/logger.js';
import type { Gateway } from './gateway.js';
import { createKannelGateway } from './kannel.js';
import { createSmsRuGateway } from './smsru.js';
import { createSmscRuGateway } from './smscru.js';
import { createSmscRuLimits, type RateGate, type SmscRuLimits } from './smscru-limits.js';
import { createSandboxGateway } from './sandbox.js';
import { createSmppGateway } from './smpp/smpp.js';
import type { SmppPool } from './smpp/pool.js';

/** The gateway kinds a portal can choose (the form's `provider` field names one; Bitrix24's providers are something else). */
export const GATEWAYS = ['smsru', 'smscru', 'kannel', 'smpp', 'sandbox'] as const;
export type GatewayKind = (typeof GATEWAYS)[number];

/**
 * Whether a message of this kind whose request's answer was lost can still be settled (each adapter's own
 * `resolvesUnknownOutcome`, which test/gateway-codes.test.ts holds to this): by a delivery report that names our id
 * (Kannel, SMPP receipts) or a lookup by our id (SMSC.ru). What a dead worker left in flight is decided by the kind
 * that took it, not by the portal's gateway now, and without reading the portal's settings.
 */
export const SETTLES_UNKNOWN_OUTCOME: Record<GatewayKind, boolean> = { smsru: false, smscru: true, kannel: true, smpp: true, sandbox: false };
export const settlesUnknownOutcome = (kind: string | null) => kind !== null && (SETTLES_UNKNOWN_OUTCOME as Record<string, boolean>)[kind] === true;

/**
 * Builds the adapter for a portal's gateway account from its stored settings.
 * `dispatcher` reaches addresses the operator configured (SMS.ru's API); `tenantDispatcher` reaches addresses a
 * portal's administrator typed (Kannel URL) and refuses internal ones. `log` receives masked excerpts of answers
 * that could not be used; nothing of an answer's body is ever shown to people.
 */
export function createGatewayFactory(opts: {
  /** `tenantDispatcher.forPortal`, when there is one: a portal's own, so that its name lookups wait on its own slot. */
  smsruUrl: string; dispatcher: Dispatcher; tenantDispatcher: Dispatcher & { forPortal?: (portalId: number) => Dispatcher }; timeoutMs: number; log?: Log;
  /** SANDBOX_DELAY: how long the sandbox takes to report a fate. */
  sandboxDelayMs?: number;
  /** SMSCRU_API_URL; `smscruGate` shares SMSC.ru's per-login status limit between processes (the database's buckets). */
  smscruUrl?: string; smscruGate?: RateGate; smscruConcurrency?: number; clock?: () => number;
  /** The process's SMSC.ru limits, when several factories share them (deps.ts); else the factory has its own. */
  smscruLimits?: SmscRuLimits;
  /** The process's SMPP sessions (gateways/smpp/pool.ts): SMPP accounts need it. */
  smpp?: SmppPool;
}) {
  // What SMSC.ru limits per login outlives the adapters, which the accounts cache rebuilds.
  const smscru = opts.smscruLimits ?? createSmscRuLimits({ gate: opts.smscruGate, clock: opts.clock ?? Date.now, concurrency: opts.smscruConcurrency ?? 8 });
  // `account.portalId`: whose account it is, for gateways that hold a connection per account (SMPP). `account.owner`:
  // the portal whose form typed the address, also for a check before it is saved (fair name lookups, address-guard.ts;
  // SMSC.ru's per-portal refusals, smscru-limits.ts).
  return function forAccount(gateway: string, credentials: Record<string, string>, account: { portalId?: number; owner?: number } = {}): Gateway {
    const owner = account.portalId ?? account.owner;
    const common = { dispatcher: opts.dispatcher, timeoutMs: opts.timeoutMs, log: opts.log };
    if (gateway === 'smsru') return createSmsRuGateway({ ...common, baseUrl: opts.smsruUrl, apiKey: credentials.api_key ?? '' });
    if (gateway === 'smscru') {
      return createSmscRuGateway({ ...common, baseUrl: opts.smscruUrl ?? 'https://smsc.ru', login: credentials.login ?? '', password: credentials.password ?? '', limits: smscru, portalId: owner });
    }
    if (gateway === 'kannel') {
      const dispatcher = owner !== undefined && opts.tenantDispatcher.forPortal ? opts.tenantDispatcher.forPortal(owner) : opts.tenantDispatcher;
      const maxParts = Number(credentials.max_parts);
      return createKannelGateway({
        ...common, dispatcher, url: credentials.url ?? '', username: credentials.username ?? '', password: credentials.password ?? '',
        maxParts: Number.isInteger(maxParts) && maxParts >= 1 ? maxParts : undefined,
      });
    }
    if (gateway === 'smpp') {
      if (!opts.smpp) throw new Error('SMPP accounts need the SMPP session pool');
      return createSmppGateway({ pool: opts.smpp, credentials, portalId: account.portalId, owner, timeoutMs: opts.timeoutMs, log: opts.log });
    }
    // Its reports go to PUBLIC_URL, an address the operator configured.
    if (gateway === 'sandbox') return createSandboxGateway({ ...common, delayMs: opts.sandboxDelayMs ?? 2_000 });
    throw new Error(`unknown gateway ${gateway}`);
  };
}

export type GatewayFactory = ReturnType<typeof createGatewayFactory>;
