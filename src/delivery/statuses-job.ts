import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { UNKNOWN_OUTCOME, type Gateway } from '../gateways/gateway.js';
import type { QueueRepo } from './queue-repo.js';
import { applyGatewayStatus } from './gateway-status.js';
import type { Accounts } from './accounts.js';
import type { Leases } from '../platform/leases.js';
import { createOutcomeLookups } from './outcome-lookups.js';
import { forEachPortal } from './per-portal.js';

/**
 * The cron statuses job: polls `sent` messages at gateways with a status API (in batches as large as the
 * gateway allows), expires messages with no final status after STATUS_MAX_AGE, and fails unknown outcomes
 * that no delivery report settled. Every worker process runs it; each portal's gateway is polled by one of them at
 * a time (a lease per portal, renewed before each gateway call and given back at the end), so N processes make the
 * gateway calls of one, and a poller that dies holds its portal for one lease at most.
 */
export function createStatusesJob(deps: {
  queue: QueueRepo;
  accounts: Accounts;
  leases: Leases;
  clock: Clock;
  log: Log;
  /** `unknownGraceMs`: see outcome-lookups.ts (UNKNOWN_OUTCOME_GRACE). */
  options: { maxAgeMs: number; unknownOutcomeMs: number; unknownGraceMs?: number; perPortalLimit: number; pollLeaseMs: number };
  onSettled?: () => void;
}) {
  const o = deps.options;
  // Unknown outcomes at gateways that can be asked by our id (SMSC.ru), before the window below fails them.
  const lookups = createOutcomeLookups({
    ...deps, options: { graceMs: o.unknownGraceMs ?? 2 * 60_000, leaseMs: o.pollLeaseMs, perPortalLimit: o.perPortalLimit },
  });
  let turn = 0;

  async function poll(): Promise<number> {
    const since = deps.clock() - o.maxAgeMs;
    // Each run starts one portal further along: portals sharing a gateway's per-login limit (SMSC.ru's one status
    // request a minute) then take turns instead of the first one always winning.
    const portals = await deps.queue.portalsWithSent(since);
    const start = portals.length ? turn++ % portals.length : 0;
    return forEachPortal([...portals.slice(start), ...portals.slice(0, start)], deps.log, 'statuses.poll', async (portalId) => {
      let changed = 0;
      for (const { account, lease, exactly } of await deps.accounts.toAsk(portalId)) {
        if (!account.gateway.fetchStatuses) continue;
        const held = await deps.leases.take(lease, deps.clock(), o.pollLeaseMs);
        if (!held) continue; // another process polls it now
        // The last message asked about is the lease's mark: the next run, in any process, goes on after it.
        const position = { last: held.mark ?? 0 };
        try {
          changed += await pollPortal(portalId, account.gateway, account.key, since, position, () => held.renew(deps.clock(), o.pollLeaseMs), exactly);
        } finally {
          await held.release(deps.clock(), position.last);
        }
      }
      return changed;
    });
  }

  /** `renew` before each gateway call: the lease stays short (a dead poller blocks the portal only that long); a poller
   * that finds it lost stops there. */
  async function pollPortal(
    portalId: number, gw: Gateway, account: string, since: number, position: { last: number }, renew: () => Promise<boolean>, exactly = false,
  ): Promise<number> {
    let changed = 0;
    const rows = await deps.queue.sentSince(portalId, since, o.perPortalLimit, account, position.last, exactly);
    const size = gw.statusBatchSize ?? 100;
    for (let i = 0; i < rows.length; i += size) {
      if (i > 0 && !(await renew())) break; // the lease ran out and another process took the portal over
      const chunk = rows.slice(i, i + size);
      let statuses;
      try {
        statuses = await gw.fetchStatuses!(chunk.map((r) => r.gateway_message_id), chunk.map((r) => r.phone ?? ''));
      } catch (err) {
        deps.log.warn({ portalId, gateway: gw.name, error: (err as { code?: string }).code ?? String(err) }, 'gateway.status.failed');
        break; // try this portal again on the next run
      }
      position.last = Number(chunk[chunk.length - 1]!.id);
      for (const r of chunk) {
        const s = statuses.get(r.gateway_message_id);
        if (s && s.state !== 'sent' && (await applyGatewayStatus(deps.queue, r.id, s, deps.clock()))) changed++;
      }
    }
    return changed;
  }

  async function expire(): Promise<number> {
    const now = deps.clock();
    const unknownBefore = now - o.unknownOutcomeMs;
    const { expired, unknown } = await deps.queue.stale({ sentBefore: now - o.maxAgeMs, unknownBefore, limit: 1000 });
    let changed = 0;
    // One message whose write fails (logged) keeps none of the others from ending; it is tried again next run.
    const end = (id: number, write: Promise<boolean>) => write.catch((err) => void deps.log.error({ messageId: id, err: String(err) }, 'statuses.expire.error'));
    for (const id of expired) if (await end(id, deps.queue.advance(id, 'undelivered', now, { failure_reason: 'expired' }))) changed++;
    // Failed only if still unknown when written: another process may have resent it since `stale` read it.
    for (const id of unknown) if (await end(id, deps.queue.failUnknown(id, now, unknownBefore, `${UNKNOWN_OUTCOME}: no delivery report from the gateway`))) changed++;
    if (changed) deps.log.info({ expired: expired.length, unknown: unknown.length }, 'statuses.expired');
    return changed;
  }

  /** Expiry runs whatever polling and lookups met: a failure there (logged) never keeps messages from ending. */
  const part = (name: string, run: () => Promise<number>) => run().catch((err) => {
    deps.log.error({ err: String(err) }, `statuses.${name}.error`);
    return 0;
  });

  async function runOnce(): Promise<{ polled: number; expired: number }> {
    const polled = (await part('poll', poll)) + (await part('lookups', lookups.runOnce));
    const expired = await expire();
    if (polled + expired) deps.onSettled?.();
    return { polled, expired };
  }

  return { runOnce };
}

export type StatusesJob = ReturnType<typeof createStatusesJob>;
