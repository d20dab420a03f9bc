import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { maskPhone } from '../platform/logger.js';
import { UNKNOWN_OUTCOME, type SendOutcome } from '../gateways/gateway.js';
import { segmentsOf } from '../gateways/segments.js';
import type { PortalRepo } from '../portals/portal-repo.js';
import type { ClaimedMessage, QueueRepo } from '../messages/queue-repo.js';
import type { Accounts } from './accounts.js';
import { backoffMs } from './backoff.js';
import { createKeyedSemaphore } from './semaphore.js';
import { createLoop } from './loop.js';

export interface SendWorkerOptions {
  concurrency: number; // messages in flight per worker process
  perAccount: number; // in flight per gateway account
  leaseMs: number;
  maxAgeMs: number; // retryable failures give up after this age
  retryBaseMs: number;
  retryCapMs: number;
  idlePollMs: number; // fallback wake-up for retries that come due; intake wakes the worker at once
}

/** Claims queued messages and hands them to their portal's gateway. The messages table is the queue. */
export function createSendWorker(deps: {
  queue: QueueRepo;
  portals: PortalRepo;
  accounts: Accounts;
  clock: Clock;
  log: Log;
  options: SendWorkerOptions;
  dlrUrl: (portalId: number, messageId: number) => string;
  random?: () => number;
  onSettled?: () => void; // a message reached a final state: the reporter has work
  onSend?: (gateway: string, outcome: SendOutcome['kind'], seconds: number) => void;
}) {
  const o = deps.options;
  const random = deps.random ?? Math.random;
  const accountSlots = createKeyedSemaphore(o.perAccount);

  async function fail(m: { id: number }, reason: string, leaseToken?: string, fields = {}) {
    const moved = await deps.queue.advance(m.id, 'failed', deps.clock(), { failure_reason: reason.slice(0, 500), ...fields }, leaseToken);
    if (moved) deps.onSettled?.();
    return moved;
  }

  async function process(m: ClaimedMessage): Promise<void> {
    const log = deps.log.child({ messageId: m.id, portalId: m.portal_id });
    const portal = await deps.portals.findById(m.portal_id);
    if (!portal || portal.status === 'uninstalled') return void (await fail(m, 'the app was uninstalled from the portal', m.lease_token));
    if (portal.disabledAt) return void (await fail(m, 'the service operator has disabled this portal', m.lease_token));
    const account = await deps.accounts.forPortal(m.portal_id);
    if (!account) return void (await fail(m, 'no SMS gateway is configured for this portal', m.lease_token));

    const { segments, encoding } = segmentsOf(m.body);
    const sender = account.senderFor(m.code);
    const release = await accountSlots.acquire(m.portal_id);
    let outcome: SendOutcome;
    const started = performance.now();
    try {
      // Durable before the request leaves: a crash after this line is an unknown outcome, never a resend.
      const owned = await deps.queue.markSubmitted(m.id, m.lease_token, deps.clock(), { gateway: account.provider, segments, encoding, sender });
      if (!owned) return log.warn('message.claim_lost');
      outcome = await account.gateway.send({
        id: m.id, to: m.phone, text: m.body, sender, unicode: encoding === 'UCS-2', dlrUrl: deps.dlrUrl(m.portal_id, m.id),
      });
    } finally {
      release();
    }
    deps.onSend?.(account.provider, outcome.kind, (performance.now() - started) / 1000);
    const now = deps.clock();
    const raw = { gateway_status: outcome.code.slice(0, 32), gateway_status_text: outcome.text.slice(0, 500) };

    switch (outcome.kind) {
      case 'accepted':
        await deps.queue.advance(m.id, 'sent', now, { ...raw, gateway_message_id: outcome.gatewayMessageId ?? null }, m.lease_token);
        return log.info({ to: maskPhone(m.phone), gateway: account.provider }, 'gateway.send.accepted');
      case 'permanent':
        await fail(m, outcome.text, m.lease_token, raw);
        return log.warn({ gateway: account.provider, code: outcome.code }, 'gateway.send.failed');
      case 'retryable': {
        if (now - m.created_at >= o.maxAgeMs) {
          await fail(m, `gave up after ${Math.round(o.maxAgeMs / 3_600_000)} h of retries: ${outcome.text}`, m.lease_token, raw);
          return log.warn({ gateway: account.provider, code: outcome.code }, 'gateway.send.gave_up');
        }
        const next = now + backoffMs(m.attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs });
        await deps.queue.retryLater(m.id, m.lease_token, now, next, raw);
        return log.info({ gateway: account.provider, code: outcome.code, attempt: m.attempts, retryInMs: next - now }, 'gateway.send.retry');
      }
      case 'unknown':
        if (account.gateway.resolvesUnknownOutcome) {
          await deps.queue.awaitOutcome(m.id, m.lease_token, now, raw);
          return log.warn({ gateway: account.provider, code: outcome.code }, 'gateway.send.unknown');
        }
        await fail(m, outcome.text.startsWith(UNKNOWN_OUTCOME) ? outcome.text : `${UNKNOWN_OUTCOME}: ${outcome.text}`, m.lease_token, raw);
        return log.warn({ gateway: account.provider, code: outcome.code }, 'gateway.send.unknown');
    }
  }

  /**
   * Claims whose worker died: never submitted → queued again (provably never reached the gateway);
   * submitted → the outcome is unknown: wait for the gateway's reports where it sends them, else failed.
   */
  async function reap(): Promise<number> {
    const now = deps.clock();
    const expired = await deps.queue.expiredClaims(now);
    for (const c of expired) {
      if (c.submitted_at === null) {
        await deps.queue.requeue(c.id, c.lease_token, now);
        deps.log.info({ messageId: c.id }, 'message.requeued');
        continue;
      }
      const account = await deps.accounts.forPortal(c.portal_id);
      if (account?.gateway.resolvesUnknownOutcome) await deps.queue.awaitOutcome(c.id, c.lease_token, now, {});
      else await fail(c, `${UNKNOWN_OUTCOME}: the worker stopped while the request was in flight`, c.lease_token);
      deps.log.warn({ messageId: c.id }, 'message.outcome_unknown');
    }
    return expired.length;
  }

  /** One step: reap dead claims, claim what is due, send it all. Returns how many messages were claimed. */
  async function runOnce(): Promise<number> {
    await reap();
    const claimed = await deps.queue.claim(deps.clock(), o.concurrency, o.leaseMs);
    await Promise.all(
      claimed.map((m) =>
        process(m).catch((err) => deps.log.error({ messageId: m.id, err: String(err) }, 'worker.message.error')),
      ),
    );
    return claimed.length;
  }

  const loop = createLoop({ name: 'worker', step: runOnce, idleMs: o.idlePollMs, log: deps.log });

  return { runOnce, reap, start: loop.start, stop: loop.stop, kick: loop.kick };
}

export type SendWorker = ReturnType<typeof createSendWorker>;
