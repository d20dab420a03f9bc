import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { smppAccountFingerprint, type LateOutcome, type Receipt, type SmppReceiptSink } from '../gateways/smpp/pool.js';
import { smppSettings } from '../gateways/smpp/smpp.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import { sameId } from '../gateways/smpp/codec.js';
import type { QueueRepo } from './queue-repo.js';
import type { PartMatch, PartRepo } from './part-repo.js';
import { applyGatewayStatus } from './gateway-status.js';
import { backoffMs } from './backoff.js';

const digits = (s: string) => s.replace(/\D/g, '');
/** States a receipt can still move a message out of. */
const OPEN = new Set(['sending', 'sent']);
/** An unmatched receipt is looked up again this long after its first try, then after the second. */
export const RECEIPT_RETRY_MS = [2_000, 10_000];
/** Unmatched receipts waiting to be looked up again, per process, and of them per portal (the bind's). */
const RECEIPTS_WAITING = 1_000;
const RECEIPTS_WAITING_PER_PORTAL = 100;
/** The letters and digits of a text, lower case: how a receipt's `text:` excerpt is compared with a message. */
const plain = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * What SMPP centres say about messages, settled as delivery reports are (applyGatewayStatus, forward-only; the
 * reporter is woken for final states). A receipt finds its message by the id it names:
 * - the message's own gateway id (the first part's), as it is written, or
 * - any accepted part's id, in any of its readings (hex / decimal, leading zeros): the same spelling wins over
 *   another reading, the receipt's number (its source address) over another number, a newer message over an older.
 * The first part's receipt settles the message. Receipts of other parts are absorbed: centres differ on whether they
 * send them at all, so they change nothing. A receipt that names no known id may still settle a message whose
 * outcome is unknown (the connection dropped before the answer): when exactly one such message went to the
 * receipt's number and its text starts as the receipt quotes (a receipt quoting nothing settles none), and no message to that number was
 * given the receipt's id (a receipt sent again for a settled message is no news of another), and none with that text
 * submitted before the receipt came still waits for its submit's answer (the receipt may be that one's).
 * Portals that saved the same SMPP account (`peers`) share its receipts: a centre sends them over any bind of the
 * account, which may be another portal's. So every way above looks in all of them at once: the id as written in any
 * of them (the centre gives an id once per account), then any reading of any part's id across them by the same
 * order, then the number among all their unknown outcomes.
 */
export function createSmppReceipts(deps: {
  queue: QueueRepo; parts: PartRepo; clock: Clock; log: Log; onSettled?: () => void; peers?: (portalId: number) => Promise<number[]>;
  /** When to look an unmatched receipt up again (after the first try); setTimeout unless a test steps them. */
  retryMs?: number[];
  later?: (ms: number, run: () => void) => void;
  random?: () => number;
  /** A message refused late "not now" is sent again: backoff (RETRY_BASE, RETRY_CAP) until SEND_MAX_AGE (their defaults). */
  resend?: { baseMs: number; capMs: number; maxAgeMs: number };
}): SmppReceiptSink {
  const retryMs = deps.retryMs ?? RECEIPT_RETRY_MS;
  const resend = deps.resend ?? { baseMs: 2_000, capMs: 5 * 60_000, maxAgeMs: 24 * 3_600_000 };
  const later = deps.later ?? ((ms, run) => void setTimeout(run, ms).unref());
  const random = deps.random ?? Math.random;
  let waiting = 0;
  // Per portal of the bind they came over: a centre that sends ids nobody knows holds its own portal's places only.
  const waitingOf = new Map<number, number>();

  async function settle(portalId: number, messageId: number, r: Receipt, gatewayMessageId: string | undefined, how: string) {
    const changed = await applyGatewayStatus(deps.queue, messageId, r.status, deps.clock(), gatewayMessageId ? { gateway_message_id: gatewayMessageId } : {});
    if (changed && r.status.state !== 'sent') deps.onSettled?.();
    deps.log.info({ portalId, messageId, stat: r.status.code, changed, how }, 'smpp.receipt');
  }

  /** Whether the receipt's number (its source address) is the message's; a receipt without a usable one fits any. */
  function handsetFits(phone: string | null, r: Receipt): boolean {
    const handset = digits(r.handset);
    return handset.length < 7 || (phone !== null && digits(phone).endsWith(handset.slice(-10)));
  }

  /**
   * The receipt's message among parts whose id reads as the receipt's: only one that can still change (a settled
   * message with the same id is an older one, the id given again). The receipt's number above the same spelling, then
   * the newest (the repo's order, kept by a stable sort). One found only by another reading (hex for decimal) whose
   * number is not the receipt's is no match: the receipt may be for a message whose id is not stored yet.
   */
  function best(matches: PartMatch[], r: Receipt): PartMatch | undefined {
    const score = (m: PartMatch) => (handsetFits(m.phone, r) ? 4 : 0) + (sameId(m.gatewayId, r.id) ? 2 : 0);
    const found = matches.filter((m) => OPEN.has(m.state)).sort((a, b) => score(b) - score(a))[0];
    return found && (sameId(found.gatewayId, r.id) || handsetFits(found.phone, r)) ? found : undefined;
  }

  /**
   * Whether the receipt found its message (settled, or absorbed as another part's or as a repeat for a message
   * already settled). `arrivedAt`: when the receipt first came; by its number it only settles a message submitted by
   * then (one submitted after it cannot be its own).
   */
  async function match(portalId: number, r: Receipt, arrivedAt: number): Promise<boolean> {
    // The usual case first, without asking who shares the account: the id as written, of the bind's own portal.
    const own = await deps.queue.byGatewayId(portalId, r.id, 'smpp');
    if (own && OPEN.has(own.state) && handsetFits(own.phone, r)) return settle(portalId, Number(own.id), r, undefined, 'id').then(() => true);
    const peers = (await deps.peers?.(portalId)) ?? [];
    const group = [portalId, ...peers];
    const shared = peers.length ? await deps.queue.byGatewayId(peers, r.id, 'smpp') : undefined;
    if (shared && OPEN.has(shared.state) && handsetFits(shared.phone, r)) return settle(Number(shared.portal_id), Number(shared.id), r, undefined, 'id, shared account').then(() => true);
    const parts = await deps.parts.find(group, r.id);
    const found = best(parts, r);
    if (found?.part === 0) return settle(found.portalId, found.messageId, r, found.gatewayId, 'part').then(() => true);
    if (found) {
      deps.log.info({ portalId: found.portalId, messageId: found.messageId, part: found.part + 1, parts: found.parts, stat: r.status.code }, 'smpp.receipt.other_part');
      return true;
    }
    // Nothing open: a later part's receipt for a message its first part settled changes nothing and is not looked for
    // again. One that names a settled message's own id is (the centre may have given the id again, to a message whose
    // answer is not stored yet): it changes nothing now, and a later look may find the new one.
    if (parts.some((m) => m.part > 0 && sameId(m.gatewayId, r.id) && !OPEN.has(m.state) && handsetFits(m.phone, r))) return true;
    // Nor is an id a settled message to that number has a repeat (centres send receipts again after a reconnect)
    // that may settle an unknown outcome by its number: one with the same text to the same customer would end
    // `delivered` though it may never have reached the centre.
    const known = [own, shared].some((m) => m && handsetFits(m.phone, r)) || parts.some((m) => handsetFits(m.phone, r));
    return !known && byNumber(group, r, arrivedAt);
  }

  /**
   * A receipt that finds nothing is looked up again a little later, twice: the submit it answers may have gone over
   * another process's bind (several worker processes, or portals sharing the account), whose answer and part id are
   * stored by that process, maybe after the centre already sent the receipt over ours. At most RECEIPTS_WAITING wait
   * per process and RECEIPTS_WAITING_PER_PORTAL per portal; past them, or after the last try, it is only noted (a
   * receipt for another system's message on a shared account ends there too).
   */
  async function receipt(portalId: number, r: Receipt, attempt = 0, arrivedAt = deps.clock()): Promise<void> {
    if (await match(portalId, r, arrivedAt)) return;
    const mine = waitingOf.get(portalId) ?? 0;
    if (attempt < retryMs.length && waiting < RECEIPTS_WAITING && mine < RECEIPTS_WAITING_PER_PORTAL) {
      waiting++;
      waitingOf.set(portalId, mine + 1);
      // ±25 %: receipts that came in a burst are not looked up again in one.
      later(retryMs[attempt]! * (0.75 + random() / 2), () => {
        waiting--;
        const left = waitingOf.get(portalId)! - 1;
        if (left > 0) waitingOf.set(portalId, left);
        else waitingOf.delete(portalId);
        receipt(portalId, r, attempt + 1, arrivedAt).catch((err) => deps.log.warn({ portalId, err: String(err) }, 'smpp.receipt.retry_failed'));
      });
      return;
    }
    deps.log.info({ portalId, stat: r.status.code, tries: attempt + 1 }, 'smpp.receipt.unmatched');
  }

  /**
   * An unknown outcome settled by a receipt for its number (the centre's id for it was never heard): only when the
   * receipt quotes the text and exactly one such message to that number starts with the quote. A receipt without a
   * quote could be for anything else sent on the same system_id (aggregator accounts are often shared), so it
   * settles nothing; the message then ends "outcome unknown" after the window. Nor does one while a message with that
   * text to that number still waits for its submit's answer: the receipt may be its own (a centre that sends receipts
   * before answers, or another process's bind), found by its id once that is stored; a later look tries again.
   */
  async function byNumber(portalIds: number[], r: Receipt, arrivedAt: number): Promise<boolean> {
    const handset = digits(r.handset);
    const quoted = plain(r.excerpt ?? '');
    if (handset.length < 7 || !quoted) return false;
    const waiting = (await deps.parts.awaitingOutcome(portalIds, 'smpp', `+${handset}`, arrivedAt)).filter((c) => c.body !== null && plain(c.body).startsWith(quoted));
    if (waiting.some((c) => c.inFlight)) return false;
    if (waiting.length !== 1) return false;
    const m = waiting[0]!;
    await deps.parts.record(m.portalId, { messageId: m.id, part: 0, parts: 1, smscId: r.id }, deps.clock());
    await settle(m.portalId, m.id, r, r.id, 'number');
    return true;
  }

  /**
   * A refusal of the first part that only means "not now" (SMPP_COMMAND_STATUS: retryable, slow down) says the centre
   * took nothing: the message goes back to the queue with backoff, as a refusal in time does, until SEND_MAX_AGE.
   * False when it is no longer that unknown outcome (settled meanwhile, or taken again): then nothing changes.
   */
  async function sendAgain(portalId: number, messageId: number, outcome: { code: string; text: string }, now: number): Promise<boolean> {
    const m = await deps.parts.unknownOutcome(messageId);
    if (!m) return false;
    const fields = { gateway_status: outcome.code.slice(0, 32), gateway_status_text: outcome.text.slice(0, 500) };
    if (now - m.createdAt >= resend.maxAgeMs) {
      const hours = Math.round(resend.maxAgeMs / 3_600_000);
      const changed = await applyGatewayStatus(deps.queue, messageId, { state: 'failed', code: outcome.code, text: `gave up after ${hours} h of retries: ${outcome.text}` }, now);
      if (changed) deps.onSettled?.();
      return changed;
    }
    const next = now + backoffMs(m.attempts, random(), { baseMs: resend.baseMs, capMs: resend.capMs });
    const changed = await deps.parts.requeueUnknown(messageId, m.unknownSince, now, next, fields);
    deps.log.info({ portalId, messageId, code: outcome.code, changed, retryInMs: next - now }, 'smpp.late_answer.retry');
    return changed;
  }

  async function late(portalId: number, messageId: number, outcome: LateOutcome) {
    const now = deps.clock();
    if (!outcome.accepted && outcome.retry) return void (await sendAgain(portalId, messageId, outcome, now));
    const changed = outcome.accepted
      ? await applyGatewayStatus(deps.queue, messageId, { state: 'sent', code: 'ESME_ROK', text: 'accepted by the SMS centre (its answer came late)' }, now, { gateway_message_id: outcome.firstId })
      : await applyGatewayStatus(deps.queue, messageId, { state: 'failed', code: outcome.code, text: outcome.text }, now);
    if (changed && !outcome.accepted) deps.onSettled?.();
    deps.log.info({ portalId, messageId, accepted: outcome.accepted, changed }, 'smpp.late_answer');
  }

  return {
    accepted: (portalId, p) => deps.parts.record(portalId, p, deps.clock()),
    receipt: (portalId, r) => receipt(portalId, r),
    late,
  };
}

/**
 * The other portals whose saved SMPP account is the same as a portal's (address and credentials: the pool's
 * fingerprint), read from the settings and kept for `ttlMs`: asked only for receipts a portal could not match.
 */
export function createSmppPeers(deps: { settings: Pick<SettingsRepo, 'allOfKind'>; ttlMs?: number; now?: () => number }) {
  const ttl = deps.ttlMs ?? 30_000;
  const now = deps.now ?? Date.now;
  let loaded: { at: number; accounts: Promise<Map<number, string>> } | undefined;

  async function load(): Promise<Map<number, string>> {
    const accounts = new Map<number, string>();
    for (const [portalId, credentials] of await deps.settings.allOfKind('smpp')) {
      const settings = smppSettings(credentials);
      if (settings) accounts.set(portalId, smppAccountFingerprint(settings));
    }
    return accounts;
  }

  return async function peers(portalId: number): Promise<number[]> {
    if (!loaded || now() - loaded.at >= ttl) {
      loaded = { at: now(), accounts: load() }; // one read for every receipt that asks meanwhile
      loaded.accounts.catch(() => (loaded = undefined));
    }
    const accounts = await loaded.accounts;
    const key = accounts.get(portalId);
    return key === undefined ? [] : [...accounts].filter(([p, k]) => p !== portalId && k === key).map(([p]) => p);
  };
}
