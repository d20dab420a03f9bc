import type { Clock } from '../platform/clock.js';
import type { Log } from '../platform/logger.js';
import { maskPhone } from '../platform/logger.js';
import { UNKNOWN_OUTCOME, unknownOutcome, type SendOutcome } from '../gateways/gateway.js';
import { settlesUnknownOutcome } from '../gateways/index.js';
import { DLR_TOKEN_V } from './dlr-url.js';
import { segmentsOf } from '../gateways/segments.js';
import type { PortalRepo } from '../portals/portal-repo.js';
import { DUE_PORTALS_LIMIT, type ClaimedMessage, type QueueRepo } from './queue-repo.js';
import { HTTP_DEADLINE } from '../platform/http.js';
import type { Account, Accounts } from './accounts.js';
import { backoffMs } from './backoff.js';
import { createLoop } from './loop.js';
import { createSlots } from './slots.js';

export interface SendWorkerOptions {
  concurrency: number; // messages in flight per worker process
  perAccount: number; // in flight per gateway account
  leaseMs: number;
  maxAgeMs: number; // retryable failures give up after this age
  maxAttempts: number; // claims that never reached a gateway give up after this many attempts
  retryBaseMs: number;
  retryCapMs: number;
  idlePollMs: number; // fallback wake-up for retries that come due; intake wakes the worker at once
  slowSendMs: number; // a send slower than this (or cut at its deadline) leaves its account one slot
}

const REAP_EVERY_MS = 1_000; // the running loop checks for dead claims at most this often

const DUE_LOOK_MS = 25;
const KICK_COALESCE_MS = 2;

/** Claims queued messages and hands them to their portal's gateway. The messages table is the queue. */
export function createSendWorker(deps: {
  queue: QueueRepo;
  portals: PortalRepo;
  accounts: Accounts;
  clock: Clock;
  log: Log;
  options: SendWorkerOptions;
  dlrUrl: (portalId: number, messageId: number, gateway: string) => string;
  random?: () => number;
  onSettled?: () => void; // a message reached a final state: the reporter has work
  onSend?: (gateway: string, outcome: SendOutcome['kind'], seconds: number) => void;
}) {
  const o = deps.options;
  const random = deps.random ?? Math.random;
  const slots = createSlots(o.concurrency, o.perAccount);
  const inFlight = new Set<Promise<void>>();
  const held = new Map<string, number>(); // lease token → messages of that claim still in this worker's hands

  async function fail(m: { id: number }, reason: string, leaseToken?: string, fields = {}) {
    const moved = await deps.queue.advance(m.id, 'failed', deps.clock(), { failure_reason: reason.slice(0, 500), ...fields }, leaseToken);
    if (moved) deps.onSettled?.();
    return moved;
  }

  const hours = (ms: number) => Math.round(ms / 3_600_000);

  /** Why a claim that never reached the gateway is not tried again, if it is not. */
  function givesUp(m: { attempts: number; created_at: number }, now: number): string | undefined {
    if (m.attempts >= o.maxAttempts) return `gave up after ${m.attempts} attempts`;
    if (now - m.created_at >= o.maxAgeMs) return `gave up after ${hours(o.maxAgeMs)} h`;
    return undefined;
  }

  /** Everything a message needs before it is submitted; undefined when it already ended (failed). */
  async function prepare(m: ClaimedMessage) {
    // A CLEAN uninstall erases texts and numbers; such a row can never be sent.
    if (m.phone === null || m.body === null) return void (await fail(m, 'the text or the number was erased when the app was uninstalled', m.lease_token));
    const portal = await deps.portals.findByIdCached(m.portal_id);
    if (!portal || portal.status === 'uninstalled') return void (await fail(m, 'the app was uninstalled from the portal', m.lease_token));
    if (portal.disabledAt) return void (await fail(m, 'the service operator has disabled this portal', m.lease_token));
    const account = await deps.accounts.forPortal(m.portal_id);
    if (!account) return void (await fail(m, 'no SMS gateway is configured for this portal', m.lease_token));
    const { segments, encoding } = segmentsOf(m.body);
    const most = account.gateway.maxSegments;
    if (most !== undefined && segments > most) return void (await fail(m, `text too long for this gateway: ${segments} parts, at most ${most}`, m.lease_token));
    return { account, phone: m.phone, body: m.body, segments, encoding, sender: account.senderFor(m.code) };
  }

  /**
   * An error before the request left (a bug, a broken row, the database): provably never sent, so tried again
   * later like a retryable failure, until SEND_MAX_ATTEMPTS or SEND_MAX_AGE. The error stays in the logs.
   */
  async function notSent(m: ClaimedMessage, err: unknown, log: Log) {
    log.error({ err: String(err) }, 'worker.message.error');
    const now = deps.clock();
    const giveUp = givesUp(m, now);
    if (giveUp) {
      await fail(m, `${giveUp}: an internal error kept it from being sent`, m.lease_token);
      return log.warn({ attempts: m.attempts }, 'message.gave_up');
    }
    await deps.queue.retryLater(m.id, m.lease_token, now, now + backoffMs(m.attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs }), {});
  }

  type Prepared = NonNullable<Awaited<ReturnType<typeof prepare>>>;

  /**
   * Prepared and (unless `mark` is false) marked submitted; undefined when it ended (failed), was taken by another
   * worker, or erred.
   */
  async function submit(m: ClaimedMessage, log: Log, mark = true): Promise<Prepared | undefined> {
    try {
      const p = await prepare(m);
      if (!p || !mark) return p;
      return (await markSubmitted(m, p, log)) ? p : undefined;
    } catch (err) {
      return void (await notSent(m, err, log));
    }
  }

  /** Durable before the request leaves: a crash after this is an unknown outcome, never a resend. */
  async function markSubmitted(m: ClaimedMessage, p: Prepared, log: Log): Promise<boolean> {
    const owned = await deps.queue.markSubmitted(m.id, m.lease_token, deps.clock(), submittedFields(p));
    if (!owned) log.warn('message.claim_lost');
    return owned;
  }

  const submittedFields = (p: Prepared) => ({ gateway: p.account.gateway.name, gateway_account: p.account.key, segments: p.segments, encoding: p.encoding, sender: p.sender, dlr_token_v: DLR_TOKEN_V });

  const outgoing = (m: ClaimedMessage, p: Prepared) => ({
    id: m.id, to: p.phone, text: p.body, sender: p.sender, unicode: p.encoding === 'UCS-2', dlrUrl: deps.dlrUrl(m.portal_id, m.id, p.account.gateway.name),
  });

  /** Metrics, the account's slow flag, and the message's next state, once its request is over. */
  async function finish(m: ClaimedMessage, p: Prepared, outcome: SendOutcome, ms: number, log: Log) {
    observe(m, p, outcome, ms, log);
    await settle(m, p.account, outcome, log);
  }

  /** Metrics and the account's slow flag, once a request is over. */
  function observe(m: ClaimedMessage, p: Prepared, outcome: SendOutcome, ms: number, log: Log) {
    deps.onSend?.(p.account.gateway.name, outcome.kind, ms / 1000);
    // A gateway that asked for fewer requests (throttled) gets them one at a time, like a slow one.
    const tooSlow = outcome.code === HTTP_DEADLINE || ms > o.slowSendMs || (outcome.kind === 'retryable' && outcome.throttled === true);
    if (tooSlow && !slots.isSlow(m.portal_id)) log.warn({ gateway: p.account.gateway.name, ms: Math.round(ms) }, 'gateway.account.slow');
    slots.sendTook(m.portal_id, tooSlow);
  }

  async function process(m: ClaimedMessage): Promise<void> {
    const log = deps.log.child({ messageId: m.id, portalId: m.portal_id });
    const p = await submit(m, log);
    if (!p) return;
    const started = performance.now();
    let outcome: SendOutcome;
    try {
      outcome = await p.account.gateway.send(outgoing(m, p));
    } catch (err) {
      // Adapters answer with outcomes; one that throws may have sent the request already.
      log.error({ err: String(err) }, 'gateway.send.error');
      outcome = unknownOutcome('ERROR', 'an internal error while sending');
    }
    await finish(m, p, outcome, performance.now() - started, log);
  }

  /**
   * Messages of one account whose gateway takes several per request (SMS.ru): each is prepared and marked submitted
   * on its own, then they go in as few requests as the gateway allows (one sender and no number twice per request,
   * at most `maxBatch`), each message settled by its own result.
   */
  async function processBatch(ms: ClaimedMessage[]): Promise<void> {
    const ready = (await Promise.all(ms.map(async (m) => {
      const log = deps.log.child({ messageId: m.id, portalId: m.portal_id });
      const p = await submit(m, log, false); // marked submitted only when its own request leaves (below)
      return p && { m, p, log };
    }))).filter((x) => x !== undefined);
    const requests: Array<typeof ready> = [];
    for (const e of ready) {
      const max = e.p.account.gateway.maxBatch ?? 1;
      const fits = requests.find((r) => r.length < max && r[0]!.p.sender === e.p.sender && r[0]!.p.account === e.p.account && !r.some((x) => x.p.phone === e.p.phone));
      if (fits) fits.push(e);
      else requests.push([e]);
    }
    // The claim took ⌈messages / maxBatch⌉ slots. Messages that could not share a request (one number twice, another
    // sender) make more requests than that: they go one after another within those slots, never beside them.
    const width = Math.max(1, ready[0]?.p.account.gateway.maxBatch ?? 1);
    const waiting = [...requests];
    const lanes = Math.min(waiting.length, Math.max(1, Math.ceil(ms.length / width)));
    await Promise.all(Array.from({ length: lanes }, async () => {
      for (let r = waiting.shift(); r; r = waiting.shift()) await sendTogether(r);
    }));
  }

  /**
   * One request for several messages: all marked submitted in one transaction just before it leaves, and the ones it
   * accepted moved to `sent` in one transaction after (the common case; the rest are settled one by one). Writes per
   * request, not per message, keep the worker from holding SQLite's one write lock away from intake.
   */
  async function sendTogether(all: Array<{ m: ClaimedMessage; p: Prepared; log: Log }>) {
    let owned: boolean[];
    try {
      owned = await deps.queue.markSubmittedMany(all.map((e) => ({ id: e.m.id, leaseToken: e.m.lease_token, fields: submittedFields(e.p) })), deps.clock());
    } catch (err) {
      for (const e of all) await notSent(e.m, err, e.log);
      return;
    }
    all.forEach((e, i) => owned[i] || e.log.warn('message.claim_lost'));
    const r = all.filter((_, i) => owned[i]);
    if (!r.length) return;
    const gateway = r[0]!.p.account.gateway;
    const started = performance.now();
    let outcomes: SendOutcome[];
    try {
      outcomes = r.length > 1 && gateway.sendBatch ? await gateway.sendBatch(r.map((e) => outgoing(e.m, e.p))) : [await gateway.send(outgoing(r[0]!.m, r[0]!.p))];
    } catch (err) {
      r[0]!.log.error({ err: String(err), messages: r.length }, 'gateway.send.error');
      outcomes = r.map(() => unknownOutcome('ERROR', 'an internal error while sending'));
    }
    const took = performance.now() - started;
    const results = r.map((e, i) => ({ ...e, outcome: outcomes[i] ?? unknownOutcome('NO_RESULT', 'the gateway gave no result for it') }));
    for (const e of results) observe(e.m, e.p, e.outcome, took, e.log);
    const accepted = results.filter((e) => e.outcome.kind === 'accepted');
    await deps.queue.advanceMany(accepted.map((e) => ({
      id: e.m.id, next: 'sent' as const, leaseToken: e.m.lease_token,
      fields: { gateway_status: e.outcome.code.slice(0, 32), gateway_status_text: e.outcome.text.slice(0, 500), gateway_message_id: (e.outcome.kind === 'accepted' && e.outcome.gatewayMessageId) || null },
    })), deps.clock());
    for (const e of accepted) e.log.info({ to: maskPhone(e.m.phone), gateway: gateway.name }, 'gateway.send.accepted');
    await Promise.all(results.filter((e) => e.outcome.kind !== 'accepted').map((e) => settle(e.m, e.p.account, e.outcome, e.log)));
  }

  async function settle(m: ClaimedMessage, account: Account, outcome: SendOutcome, log: Log) {
    const now = deps.clock();
    const raw = { gateway_status: outcome.code.slice(0, 32), gateway_status_text: outcome.text.slice(0, 500) };
    switch (outcome.kind) {
      case 'accepted':
        await deps.queue.advance(m.id, 'sent', now, { ...raw, gateway_message_id: outcome.gatewayMessageId ?? null }, m.lease_token);
        return log.info({ to: maskPhone(m.phone), gateway: account.gateway.name }, 'gateway.send.accepted');
      case 'permanent':
        await fail(m, outcome.text, m.lease_token, raw);
        return log.warn({ gateway: account.gateway.name, code: outcome.code }, 'gateway.send.failed');
      case 'retryable': {
        if (now - m.created_at >= o.maxAgeMs) {
          await fail(m, `gave up after ${hours(o.maxAgeMs)} h of retries: ${outcome.text}`, m.lease_token, raw);
          return log.warn({ gateway: account.gateway.name, code: outcome.code }, 'gateway.send.gave_up');
        }
        const next = now + Math.max(backoffMs(m.attempts, random(), { baseMs: o.retryBaseMs, capMs: o.retryCapMs }), outcome.retryAfterMs ?? 0);
        await deps.queue.retryLater(m.id, m.lease_token, now, next, raw);
        return log.info({ gateway: account.gateway.name, code: outcome.code, attempt: m.attempts, retryInMs: next - now }, 'gateway.send.retry');
      }
      case 'unknown':
        if (account.gateway.resolvesUnknownOutcome) {
          await deps.queue.awaitOutcome(m.id, m.lease_token, now, { ...raw, gateway: account.gateway.name, gateway_account: account.key }); // its reports are this gateway's alone
          return log.warn({ gateway: account.gateway.name, code: outcome.code }, 'gateway.send.unknown');
        }
        await fail(m, outcome.text, m.lease_token, raw); // says "outcome unknown: …" by its type
        return log.warn({ gateway: account.gateway.name, code: outcome.code }, 'gateway.send.unknown');
    }
  }

  /**
   * Claims whose worker died: never submitted → queued again (provably never reached the gateway), unless they
   * used up SEND_MAX_ATTEMPTS or SEND_MAX_AGE (a row that kills its worker must not loop forever);
   * submitted → the outcome is unknown: wait for the gateway's reports where it sends them, else failed.
   */
  async function reap(): Promise<number> {
    const now = deps.clock();
    const expired = await deps.queue.expiredClaims(now);
    let reaped = 0;
    for (const c of expired) {
      // One message that cannot be decided (its database write failed) is left for the next look, never in the way
      // of the others or of the claims after this (a throw here stopped every portal's sending).
      try {
        if (await reapOne(c, now)) reaped++;
      } catch (err) {
        deps.log.error({ messageId: c.id, portalId: c.portal_id, err: String(err) }, 'worker.reap.error');
      }
    }
    return reaped;
  }

  async function reapOne(c: Awaited<ReturnType<typeof deps.queue.expiredClaims>>[number], now: number): Promise<boolean> {
    // Read a moment ago: its worker may have renewed it since, or another process's reaper taken it.
    const held = await deps.queue.takeOver(c.id, c.lease_token, now);
    if (!held) return false;
    const token = held.token;
    if (held.submittedAt === null) {
      const giveUp = givesUp(c, now);
      if (giveUp) {
        await fail(c, `${giveUp}: the worker stopped before sending`, token);
        deps.log.warn({ messageId: c.id, attempts: c.attempts }, 'message.gave_up');
      } else {
        await deps.queue.requeue(c.id, token, now);
        deps.log.info({ messageId: c.id }, 'message.requeued');
      }
      return true;
    }
    // By the kind that took it: the portal may use another gateway by now, or its settings be unreadable.
    if (settlesUnknownOutcome(held.gateway)) await deps.queue.awaitOutcome(c.id, token, now, {});
    else await fail(c, `${UNKNOWN_OUTCOME}: the worker stopped while the request was in flight`, token);
    deps.log.warn({ messageId: c.id, gateway: held.gateway }, 'message.outcome_unknown');
    return true;
  }

  /**
   * Starts claimed messages of one account in their slots, one request each or, where the gateway takes several,
   * as few requests as it allows; each slot frees (and the loop looks for more) when its request is done.
   */
  function launch(ms: ClaimedMessage[], batched: boolean): Promise<void>[] {
    const runs = batched ? [{ group: ms, run: () => processBatch(ms) }] : ms.map((m) => ({ group: [m], run: () => process(m) }));
    return runs.map(({ group, run: go }) => {
      const took = slots.take(group[0]!.portal_id, group.length);
      for (const m of group) held.set(m.lease_token, (held.get(m.lease_token) ?? 0) + 1);
      const run: Promise<void> = go()
        .catch((err) => deps.log.error({ messageIds: group.map((m) => m.id), err: String(err) }, 'worker.message.error'))
        .finally(() => {
          for (const m of group) {
            const left = held.get(m.lease_token)! - 1;
            if (left > 0) held.set(m.lease_token, left);
            else held.delete(m.lease_token);
          }
          slots.release(group[0]!.portal_id, group.length, took);
          inFlight.delete(run);
          kickSoon();
        });
      inFlight.add(run);
      return run;
    });
  }

  /**
   * Claims into free slots only, in passes: one look for the portals with due work, then each of them in the
   * order and up to the share that the slot rules give (fewest in flight first, see slots.ts), never more than an
   * account's own free slots, so nothing claimed waits behind another account. Another pass only while some
   * portal was held to its share and slots are left. One fill at a time, so two callers never hand out the same slot.
   */
  /**
   * The portals with due work, looked up at most every DUE_LOOK_MS while sends finish one by one (each freed slot used
   * to cost a look: half of the worker's SQL time at 450 messages/s). New work (`kick`) always looks again.
   */
  let dueLook: { at: number; after: number; due: number[] } | undefined;
  async function duePortals(now: number): Promise<number[]> {
    if (dueLook && dueLook.after === after && performance.now() - dueLook.at < DUE_LOOK_MS) return dueLook.due;
    const due = await deps.queue.duePortals(now, { after, limit: DUE_PORTALS_LIMIT });
    dueLook = { at: performance.now(), after, due };
    return due;
  }

  /** A finished send's slot: claimed together with the others that free within KICK_COALESCE_MS. */
  let soon: NodeJS.Timeout | undefined;
  function kickSoon() {
    soon ??= setTimeout(() => {
      soon = undefined;
      loop.kick();
    }, KICK_COALESCE_MS);
  }

  let filling: Promise<unknown> = Promise.resolve();
  let after = 0; // more portals were due than one look returns: the next look starts after the last one seen
  function fill(): Promise<{ runs: Promise<void>[]; messages: number }> {
    const run = filling.then(async () => {
      const started: Promise<void>[] = [];
      let messages = 0;
      const drained = new Set<number>(); // portals with no more due rows for now (or another worker took them)
      let more = true;
      while (more && slots.free() > 0) {
        more = false;
        const now = deps.clock();
        const due = await duePortals(now);
        after = due.length === DUE_PORTALS_LIMIT ? due[due.length - 1]! : 0;
        for (const { account, upTo } of slots.turns(due.filter((p) => !drained.has(p)))) {
          // A gateway that takes several messages per request lets its account hold that many more (slots count requests).
          const batch = (await deps.accounts.forPortal(account).catch(() => undefined))?.gateway.maxBatch ?? 1;
          slots.setWidth(account, batch);
          const n = Math.min(upTo, slots.freeFor(account));
          if (n <= 0) continue;
          const claimed = await deps.queue.claim(now, n, o.leaseMs, { portalId: account });
          if (claimed.length) started.push(...launch(claimed, batch > 1));
          messages += claimed.length;
          if (claimed.length < n) drained.add(account);
          else if (slots.freeFor(account) > 0) more = true;
        }
      }
      return { runs: started, messages };
    });
    filling = run.catch(() => {});
    return run;
  }

  /** One step for tests: reap dead claims, claim what fits in the free slots, and wait for those to finish. */
  async function runOnce(): Promise<number> {
    dueLook = undefined; // a test's step looks afresh: its clock may have moved
    await reapSafely();
    const { runs, messages } = await fill();
    await Promise.all(runs);
    return messages;
  }

  /** Claiming goes on whatever became of the look for dead claims (it is tried again on the next step). */
  const reapSafely = () => reap().catch((err) => void deps.log.error({ err: String(err) }, 'worker.reap.error'));

  // The running loop does not wait for what it started: every freed slot kicks it to claim again.
  let lastReap = -Infinity;
  async function step(): Promise<number> {
    if (performance.now() - lastReap >= REAP_EVERY_MS) {
      lastReap = performance.now();
      await reapSafely();
    }
    return (await fill()).messages;
  }

  const loop = createLoop({ name: 'worker', step, idleMs: o.idlePollMs, log: deps.log });

  /**
   * Leases are short (WORKER_LEASE) and renewed while this worker holds the messages, every quarter of a lease,
   * so a worker that dies gives its claims back within one lease, while a send slower than a lease keeps its own.
   */
  async function heartbeat(): Promise<number> {
    return deps.queue.renewLeases([...held.keys()], deps.clock() + o.leaseMs);
  }
  let beat: NodeJS.Timeout | undefined;

  function start() {
    loop.start();
    beat ??= setInterval(() => {
      heartbeat().catch((err) => deps.log.error({ err: String(err) }, 'worker.heartbeat.failed'));
    }, Math.max(250, o.leaseMs / 4));
    beat.unref();
  }

  /** Stops claiming, then lets the messages in flight finish (their claims stay consistent and renewed). */
  async function stop() {
    await loop.stop();
    await Promise.allSettled([...inFlight]);
    clearInterval(beat);
    beat = undefined;
    clearTimeout(soon);
    soon = undefined;
  }

  /** New work (intake, another process's notice): looked for at once. */
  function kick() {
    dueLook = undefined;
    loop.kick();
  }

  return { runOnce, reap, heartbeat, start, stop, kick };
}

export type SendWorker = ReturnType<typeof createSendWorker>;
