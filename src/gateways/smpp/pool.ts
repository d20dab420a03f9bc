import { createHash } from 'node:crypto';
import type { PDU } from 'smpp';
import type { Log } from '../../platform/logger.js';
import { maskPhone } from '../../platform/logger.js';
import type { GatewayStatus } from '../gateway.js';
import { BIND_REFUSED_CREDENTIALS, receiptStatus } from './codes.js';
import { readDeliverSm } from './codec.js';
import type { SmppConnect, SmppEndpoint } from './connect.js';
import { createPace } from './pace.js';
import { SmppError, createSmppSession, type Answer, type SmppCredentials, type SmppSession, type SubmitResult } from './session.js';

export interface SmppAccountSettings {
  endpoint: SmppEndpoint;
  credentials: SmppCredentials;
  /** Messages (submit_sm PDUs) per second the account allows, across all its binds in this process. */
  tps: number;
  /** Unanswered submits in flight per bind. */
  window: number;
}

/** A part the centre accepted: its id is kept, so that its receipt finds the message (the first part's or another's). */
export interface AcceptedPart {
  messageId: number;
  part: number; // 0-based
  parts: number;
  smscId: string;
}

export interface Receipt {
  id: string;
  status: GatewayStatus;
  /** The receipt's source address: the number the message went to. */
  handset: string;
  /** The receipt text's `text:` field (the message's first characters), when it has one. */
  excerpt?: string;
}

/**
 * Where the pool hands what the centre says about messages: implemented by the delivery side
 * (src/delivery/smpp-receipts.ts), which owns the messages table. Calls for one account come one at a time, in the
 * order the centre sent them, so a part's id is stored before its receipt is looked up.
 */
export interface SmppReceiptSink {
  accepted(portalId: number, part: AcceptedPart): Promise<void>;
  receipt(portalId: number, receipt: Receipt): Promise<void>;
  /** A send that ended as an unknown outcome got its answer after all: every part accepted, or one refused. */
  late(portalId: number, messageId: number, outcome: LateOutcome): Promise<void>;
}

/** `retry`: the centre took nothing of the message and refused it only for now (SMPP_COMMAND_STATUS): it may go again. */
export type LateOutcome = { accepted: true; firstId: string } | { accepted: false; code: string; text: string; retry?: true };

export interface SmppPoolOptions {
  /** Binds per account in this process (SMPP_BINDS). */
  binds: number;
  timeoutMs: number;
  enquireLinkMs: number;
  /** An account unused this long is unbound (the statuses job keeps accounts that wait for receipts in use). */
  idleMs: number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
}

/** Not sent, with the reason: `status` when the centre refused the bind (its ESME_ code). */
export type NotBound = { kind: 'not_sent'; code: string; status?: number };

const ESME_RX_T_APPN = 0x64;
/**
 * Receipts an account holds at once, taken and not yet stored; the centre is told to send the others again later.
 * Counted per account rather than per bind: the chain they wait in is the account's, shared by its binds, and it
 * outlives a bind the centre drops and makes again.
 */
export const RECEIPTS_IN_HAND = 64;

/** Reconnect delay after `failures` failed attempts in a row: doubling from the base, capped, ±25 % jitter. */
const reconnectDelay = (failures: number, random: number, o: SmppPoolOptions) =>
  Math.round(Math.min(o.reconnectCapMs, o.reconnectBaseMs * 2 ** Math.max(0, failures - 1)) * (0.75 + 0.5 * random));

/** One SMPP account at one centre: the same address and credentials are the same account, whichever portal saved them. */
export const smppAccountFingerprint = (s: SmppAccountSettings) =>
  createHash('sha256').update(JSON.stringify([s.endpoint.host, s.endpoint.port, s.endpoint.tls, s.credentials.systemId, s.credentials.password, s.credentials.systemType])).digest('hex');

/**
 * The process's SMPP connections: per gateway account (a portal's settings), SMPP_BINDS bind_transceiver sessions
 * kept open while the account is in use, reconnected with capped backoff after a drop, unbound on close(). The
 * gateway factory builds adapter objects often (accounts.ts caches them for seconds); they all share the account's
 * entry here, so its window and pace hold across every message of the account in this process.
 */
export function createSmppPool(o: { connect: SmppConnect; log: Log; options: SmppPoolOptions; sink?: SmppReceiptSink; random?: () => number }) {
  const opt = o.options;
  const random = o.random ?? Math.random;
  const accounts = new Map<number, ReturnType<typeof openAccount>>();
  /** Per account at the centre (its fingerprint): the chain its sink calls wait in, whichever portal's bind they came over. */
  const chains = new Map<string, Promise<unknown>>();
  let sink = o.sink;
  let closing = false;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [portalId, a] of accounts) {
      if (now - a.lastUsed() > opt.idleMs && a.outstanding() === 0) {
        accounts.delete(portalId);
        void a.close();
      }
    }
  }, Math.max(1_000, Math.min(opt.idleMs, 60_000)));
  sweep.unref();


  function openAccount(portalId: number, initial: SmppAccountSettings, key: string) {
    let settings = initial;
    const log = o.log.child({ portalId, gateway: 'smpp' });
    const pace = createPace(settings.tps);
    let lastUsed = Date.now();
    let closed = false;
    let receiptsInHand = 0;
    let reference = Math.floor(random() * 256);
    type Slot = { session?: SmppSession; opening?: Promise<void>; failures: number; retryAt: number; error?: SmppError; timer?: NodeJS.Timeout };
    const slots: Slot[] = Array.from({ length: Math.max(1, opt.binds) }, () => ({ failures: 0, retryAt: 0 }));

    /**
     * The account's calls to the sink, one at a time in arrival order: a part's id is stored before a receipt that
     * names it is looked up. One chain per account at the centre, not per portal: portals that saved the same account
     * get each other's receipts (smpp-receipts.ts), which must wait for the other portal's parts too.
     */
    function serial<T>(job: () => Promise<T>): Promise<T> {
      const run = (chains.get(key) ?? Promise.resolve()).then(job, job);
      const tail = run.catch(() => undefined);
      chains.set(key, tail);
      void tail.then(() => chains.get(key) === tail && chains.delete(key));
      return run;
    }

    async function deliver(pdu: PDU): Promise<number> {
      const d = readDeliverSm(pdu as unknown as Record<string, unknown>);
      if (d.kind === 'incoming') {
        // Incoming SMS are not handled yet: answered, and only noted.
        log.info({ from: maskPhone(d.from), to: maskPhone(d.to), length: d.length }, 'smpp.incoming');
        return 0;
      }
      const status = receiptStatus(d);
      if (!d.id || !status) {
        log.warn({ state: d.messageState, stat: d.stat?.slice(0, 16) }, 'smpp.receipt.unreadable');
        return 0; // answered: asking again would not make it readable
      }
      if (!sink) return ESME_RX_T_APPN;
      // A centre may write receipts as fast as TCP allows without waiting for our answers: each one taken waits in
      // the account's chain for its queries, so past a few the rest are answered ESME_RX_T_APPN at once, without
      // the database, and the centre sends them again later. Pausing the socket instead would also stop the answers
      // to our own submits and enquire_link on the same bind, and the bind would stall or be dropped as dead.
      // ESME_RX_T_APPN, not ESME_RTHROTTLED: SMPP 3.4 §5.1.3 names 0x64 the ESME receiver's temporary error, while 0x58
      // says the ESME exceeded its limits (the centre's word to us); Kannel answers deliver_sm the same way.
      if (receiptsInHand >= RECEIPTS_IN_HAND) return ESME_RX_T_APPN;
      receiptsInHand++;
      try {
        await serial(() => sink!.receipt(portalId, { id: d.id!, status, handset: d.handset, excerpt: d.excerpt }));
      } finally {
        receiptsInHand--;
      }
      return 0;
    }

    const wanted = () => !closed && !closing;

    function reconnectLater(slot: Slot) {
      if (!wanted() || slot.timer) return;
      const delay = Math.max(0, slot.retryAt - Date.now());
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        if (wanted() && !slot.session && !slot.opening) start(slot);
      }, delay);
      slot.timer.unref();
    }

    function start(slot: Slot): Promise<void> {
      const session = sessionFor(settings, {
        portalId,
        window: () => settings.window,
        log,
        onDeliver: deliver,
        onClosed: (code) => {
          if (slot.session !== session) return;
          slot.session = undefined;
          slot.failures++;
          slot.retryAt = Date.now() + reconnectDelay(slot.failures, random(), opt);
          log.warn({ code, reconnectInMs: slot.retryAt - Date.now() }, 'smpp.dropped');
          reconnectLater(slot);
        },
      });
      slot.opening = (async () => {
        try {
          await session.open();
          if (!wanted()) return void (await session.unbind());
          slot.session = session;
          slot.failures = 0;
          slot.error = undefined;
          log.info({ host: settings.endpoint.host, port: settings.endpoint.port }, 'smpp.bound');
        } catch (err) {
          slot.error = err instanceof SmppError ? err : new SmppError('SMPP_CONNECT_FAILED');
          slot.failures++;
          slot.retryAt = Date.now() + reconnectDelay(slot.failures, random(), opt);
          log.warn({ code: slot.error.code, reconnectInMs: slot.retryAt - Date.now() }, 'smpp.bind.failed');
          // Refused credentials are tried again only when a message or the statuses job asks (after the backoff):
          // binding again and again with a wrong password can lock the account at the centre.
          if (slot.error.status === undefined || !BIND_REFUSED_CREDENTIALS.has(slot.error.status)) reconnectLater(slot);
        } finally {
          slot.opening = undefined;
        }
      })();
      return slot.opening;
    }

    const ready = () => slots.filter((s) => s.session?.isBound()).map((s) => s.session!);
    const pick = (): SmppSession | undefined => ready().reduce<SmppSession | undefined>((a, b) => (!a || b.outstanding() < a.outstanding() ? b : a), undefined);

    /**
     * Binds what is due and waits up to `waitMs` for a bind under way; then a bound session with the most room in
     * its window, chosen by the caller's synchronous `pick` (so that submits resuming together spread out).
     */
    async function bound(waitMs: number): Promise<NotBound | undefined> {
      const now = Date.now();
      for (const slot of slots) if (!slot.session && !slot.opening && !slot.timer && now >= slot.retryAt) void start(slot);
      if (!ready().length) {
        const opening = slots.filter((s) => s.opening).map((s) => s.opening!);
        if (opening.length) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([Promise.all(opening), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
          clearTimeout(timer);
        }
      }
      if (ready().length) return undefined;
      const error = slots.find((s) => s.error?.status !== undefined)?.error ?? slots.find((s) => s.error)?.error;
      return { kind: 'not_sent', code: error?.code ?? 'SMPP_NOT_BOUND', status: error?.status };
    }

    /**
     * One submit_sm of a message's part: a bind, a place in its window, the pace, the answer. An accepted part's id
     * goes to the sink (also when the answer comes late: `onLate` then hears of it after the sink).
     */
    async function submit(
      params: Record<string, unknown>,
      part: Omit<AcceptedPart, 'smscId'>,
      o2: { waitMs: number; onLate?: (a: Answer) => LateOutcome | undefined },
    ): Promise<SubmitResult | NotBound> {
      lastUsed = Date.now();
      const notBound = await bound(o2.waitMs);
      if (notBound) return notBound;
      const session = pick();
      if (!session) return { kind: 'not_sent', code: 'SMPP_NOT_BOUND' };
      const record = (a: Answer) => {
        if (a.status === 0) {
          pace.ok();
          if (a.messageId && sink) serial(() => sink!.accepted(portalId, { ...part, smscId: a.messageId })).catch((err) => log.error({ err: String(err) }, 'smpp.part.store_failed'));
        }
      };
      const result = await session.submit(params, {
        waitMs: o2.waitMs,
        beforeWrite: () => pace.take(o2.waitMs),
        onLate: (a) => {
          record(a);
          const outcome = o2.onLate?.(a);
          log.info({ messageId: part.messageId, part: part.part + 1, status: a.status }, 'smpp.answer.late');
          if (outcome && sink) serial(() => sink!.late(portalId, part.messageId, outcome)).catch((err) => log.error({ err: String(err) }, 'smpp.late.store_failed'));
        },
      });
      if (result.kind === 'answered') record(result);
      return result;
    }

    async function close() {
      closed = true;
      await Promise.all(slots.map(async (slot) => {
        clearTimeout(slot.timer);
        slot.timer = undefined;
        await slot.opening;
        await slot.session?.unbind();
        slot.session = undefined;
      }));
      await chains.get(key);
    }

    return {
      key,
      update(next: SmppAccountSettings) {
        settings = next;
        pace.setLimit(next.tps);
      },
      submit,
      /** Binds now where none is open (the statuses job: receipts arrive over a bind). */
      async keepBound(waitMs: number): Promise<NotBound | undefined> {
        lastUsed = Date.now();
        return bound(waitMs);
      },
      /** The 8-bit reference of a concatenated message's parts (gateways.md §6), one per message. */
      nextReference: () => (reference = (reference + 1) & 0xff),
      slowDown: () => pace.slowDown(),
      pace: () => pace.rate(),
      lastUsed: () => lastUsed,
      outstanding: () => slots.reduce((n, s) => n + (s.session?.outstanding() ?? 0), 0),
      bindsOpen: () => slots.filter((s) => s.session?.isBound()).length,
      close,
    };
  }

  /** The pool's entry for a portal's account; settings that name another account (host, system id…) replace it. */
  function account(portalId: number, settings: SmppAccountSettings) {
    const key = smppAccountFingerprint(settings);
    let a = accounts.get(portalId);
    if (a && a.key !== key) {
      void a.close();
      a = undefined;
    }
    if (!a) {
      a = openAccount(portalId, settings, key);
      accounts.set(portalId, a);
    } else a.update(settings);
    return a;
  }

  /** A session to the account's centre with the pool's connection options; the rest is the caller's. */
  function sessionFor(settings: SmppAccountSettings, rest: Omit<Parameters<typeof createSmppSession>[0], 'endpoint' | 'credentials' | 'connect' | 'timeoutMs' | 'enquireLinkMs'>) {
    return createSmppSession({ endpoint: settings.endpoint, credentials: settings.credentials, connect: o.connect, timeoutMs: opt.timeoutMs, enquireLinkMs: opt.enquireLinkMs, ...rest });
  }

  /**
   * The credential check: a bind_transceiver of its own, then unbind. Receipts the centre pushes meanwhile are
   * answered with a temporary error (ESME_RX_T_APPN), so that it keeps them for the account's own binds.
   */
  async function check(settings: SmppAccountSettings, portalId?: number): Promise<{ ok: true } | { ok: false; code: string; status?: number }> {
    const session = sessionFor(settings, { portalId, window: () => 1, log: o.log, onDeliver: async () => ESME_RX_T_APPN });
    try {
      await session.open();
    } catch (err) {
      const e = err instanceof SmppError ? err : new SmppError('SMPP_CONNECT_FAILED');
      return { ok: false, code: e.code, status: e.status };
    }
    await session.unbind();
    return { ok: true };
  }

  /** Unbinds every session (graceful stop: after the send worker has finished what it had in hand). */
  async function close() {
    closing = true;
    clearInterval(sweep);
    const all = [...accounts.values()];
    accounts.clear();
    await Promise.all(all.map((a) => a.close()));
  }

  return {
    account,
    check,
    close,
    /** A late-bound sink: the delivery side is built after the gateways. */
    setSink(s: SmppReceiptSink) {
      sink = s;
    },
    /** For tests and metrics: the account of a portal, if this process holds one. */
    peek: (portalId: number) => accounts.get(portalId),
  };
}

export type SmppPool = ReturnType<typeof createSmppPool>;
export type SmppAccount = ReturnType<SmppPool['account']>;
