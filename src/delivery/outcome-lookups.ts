import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import type { Gateway } from '../gateways/gateway.js';
import type { Leases } from '../platform/leases.js';
import type { QueueRepo } from './queue-repo.js';
import type { Accounts } from './accounts.js';
import { applyGatewayStatus } from './gateway-status.js';
import { forEachPortal } from './per-portal.js';

/** A message is looked up at most this often: SMSC.ru refuses more than 5 status requests for one message a minute. */
export const LOOKUP_SPACING_MS = 15_000;

/**
 * Settles unknown outcomes (a send whose answer was lost) at gateways that can be asked by OUR id (`Gateway.lookup`,
 * SMSC.ru), as one step of the statuses job:
 * - found → `sent`, with the gateway's id and state, as if the answer had come (and on to its final state);
 * - "not found" once `graceMs` has passed since the answer was lost → the request never arrived, so the message is
 *   queued again: once, ever (`resent_at`); the gateway may still be storing a request it took just before the
 *   deadline, hence the grace;
 * - anything else (not found yet, not found after the one resend, or the gateway could not be asked) → asked again
 *   on a later run, until UNKNOWN_OUTCOME_WINDOW fails it as the statuses job does for every gateway.
 * A portal is worked on under the statuses job's own lease for it, so processes never look up the same messages.
 */
export function createOutcomeLookups(deps: {
  queue: QueueRepo;
  accounts: Accounts;
  leases: Leases;
  clock: Clock;
  log: Log;
  options: { graceMs: number; leaseMs: number; perPortalLimit: number };
}) {
  const o = deps.options;

  async function runOnce(): Promise<number> {
    return forEachPortal(await deps.queue.portalsWithUnknown(), deps.log, 'statuses.lookup', async (portalId) => {
      let changed = 0;
      for (const { account, lease, exactly } of await deps.accounts.toAsk(portalId)) {
        if (!account.gateway.lookup) continue; // settled by reports, or by the window
        const held = await deps.leases.take(lease, deps.clock(), o.leaseMs);
        if (!held) continue;
        try {
          changed += await settlePortal(portalId, account.gateway, account.key, () => held.renew(deps.clock(), o.leaseMs), exactly);
        } finally {
          await held.release(deps.clock());
        }
      }
      return changed;
    });
  }

  async function settlePortal(portalId: number, gw: Gateway, account: string, renew: () => Promise<boolean>, exactly = false): Promise<number> {
    let changed = 0;
    const rows = await deps.queue.unknownOutcomes(portalId, deps.clock() - LOOKUP_SPACING_MS, o.perPortalLimit, account, exactly);
    for (const [i, r] of rows.entries()) {
      if (r.phone === null) continue; // erased at uninstall: nothing to ask by
      if (i > 0 && !(await renew())) break; // the lease ran out and another process took the portal over
      const log = deps.log.child({ messageId: r.id, portalId });
      let found;
      try {
        found = await gw.lookup!({ id: r.id, to: r.phone });
      } catch (err) {
        log.warn({ gateway: gw.name, error: (err as { code?: string }).code ?? String(err) }, 'gateway.lookup.failed');
        // Refused for this message only: asked again in its turn, and the portal's others are asked meanwhile (one
        // such message stopping the run every time would leave them all to fail "outcome unknown").
        if ((err as { oneMessage?: boolean }).oneMessage === true) {
          await deps.queue.lookedUp(r.id, deps.clock());
          continue;
        }
        break; // the gateway or the account cannot be asked now: this portal again on the next run
      }
      const now = deps.clock();
      if (found.kind === 'found') {
        const s = found.status;
        const moved = await deps.queue.advance(r.id, 'sent', now, { gateway_message_id: found.gatewayMessageId, gateway_status: s.code.slice(0, 32), gateway_status_text: s.text.slice(0, 500) });
        if (moved && s.state !== 'sent') await applyGatewayStatus(deps.queue, r.id, s, now);
        if (moved) changed++;
        log.info({ gateway: gw.name, state: s.state }, 'gateway.lookup.found');
      } else if (now - r.unknown_since >= o.graceMs && r.resent_at === null) {
        if (await deps.queue.resendOnce(r.id, now)) {
          changed++;
          log.warn({ gateway: gw.name }, 'message.resent_after_lookup');
        }
      } else {
        await deps.queue.lookedUp(r.id, now);
      }
    }
    return changed;
  }

  return { runOnce };
}

export type OutcomeLookups = ReturnType<typeof createOutcomeLookups>;
