import smpp, { type PDU, type Session } from 'smpp';
import type { Log } from '../../platform/logger.js';
import { statusName } from './codes.js';
import { messageId } from './codec.js';
import type { SmppConnect, SmppEndpoint } from './connect.js';

export interface SmppCredentials {
  systemId: string;
  password: string;
  systemType: string;
}

/** A submit's end: answered (accepted or refused), never sent (safe to send again), or lost after it left. */
export type SubmitResult =
  | { kind: 'answered'; status: number; messageId: string }
  | { kind: 'not_sent'; code: string }
  | { kind: 'lost'; code: string };

export type Answer = Extract<SubmitResult, { kind: 'answered' }>;

const ESME_RINVCMDID = 0x03;
/** What may wait to be written to one connection (the centre not reading) before it is dropped. */
export const MAX_UNSENT_BYTES = 1024 * 1024;
const INTERFACE_VERSION_34 = 0x34;

/** A connection that failed or a bind the centre refused: `code` is the socket's (ECONNREFUSED…) or the ESME_ name. */
export class SmppError extends Error {
  constructor(readonly code: string, readonly status?: number) {
    super(`SMPP ${code}`);
  }
}

/**
 * One SMPP connection: connect, bind_transceiver, then submits in a window, enquire_link when the line is quiet,
 * answers to what the centre sends (deliver_sm, enquire_link, unbind), and unbind. Used once: after it closes, the
 * pool (pool.ts) opens a new one. Times here are the socket's own (real timers): a session is I/O, not a loop.
 */
export function createSmppSession(o: {
  endpoint: SmppEndpoint;
  credentials: SmppCredentials;
  connect: SmppConnect;
  /** Whose account it is, for the address guard's fair lookups; undefined when unknown. */
  portalId?: number;
  timeoutMs: number;
  enquireLinkMs: number;
  /** Unanswered submits allowed in flight (read at each submit: the account's setting may change). */
  window: () => number;
  log: Log;
  /** A deliver_sm (or data_sm) arrived: the command_status of the answer, once it is handled. */
  onDeliver: (pdu: PDU) => Promise<number>;
  /** The connection ended without our unbind (dropped, unbound by the centre, silent). */
  onClosed?: (code: string) => void;
}) {
  let state: 'new' | 'binding' | 'bound' | 'closing' | 'closed' = 'new';
  let session: Session | undefined;
  let outstanding = 0; // submits without their resp, timed-out ones included: the centre still counts them
  const waiting: Array<(ok: boolean) => void> = [];
  const inFlight = new Set<(code: string) => void>();
  let lastHeard = Date.now();
  let keepAlive: NodeJS.Timeout | undefined;
  let probing = false;
  let closedCode = 'SMPP_CLOSED';
  let closeWaiters: Array<() => void> = [];
  /** Submits past their timeout that still hold a place in the window (a late answer frees it). */
  let overdue = 0;

  function closed(code: string) {
    if (state === 'closed') return;
    const wasBound = state === 'bound';
    state = 'closed';
    closedCode = code;
    clearInterval(keepAlive);
    for (const fail of [...inFlight]) fail(code === 'SMPP_UNBOUND' ? 'SMPP_DROPPED' : code);
    inFlight.clear();
    outstanding = 0;
    overdue = 0;
    for (const w of waiting.splice(0)) w(false);
    for (const w of closeWaiters.splice(0)) w();
    if (wasBound) o.onClosed?.(code);
  }

  function destroy(code: string) {
    const s = session;
    closed(code);
    s?.destroy();
  }

  function send(pdu: PDU, onResponse?: (resp: PDU) => void): boolean {
    // Closed: node-smpp may still hand over requests it had read; their answers have nowhere to go.
    if (!session || state === 'closed') return false;
    // A centre that stops reading while it keeps sending requests would have every answer wait in this process's
    // memory: past MAX_UNSENT_BYTES the connection is of no further use.
    if (((session as unknown as { socket?: { writableLength?: number } }).socket?.writableLength ?? 0) > MAX_UNSENT_BYTES) {
      o.log.warn({ unsentBytes: MAX_UNSENT_BYTES }, 'smpp.connection.not_reading');
      destroy('SMPP_NOT_READING');
      return false;
    }
    return session.send(pdu, onResponse);
  }

  /** Requests from the centre. Each gets its answer; a command we do not take gets generic_nack ESME_RINVCMDID. */
  function onRequest(pdu: PDU) {
    switch (pdu.command) {
      case 'enquire_link':
        return void send(pdu.response());
      case 'deliver_sm':
      case 'data_sm':
        // Answered once handled (stored, or refused as a temporary error so that the centre sends it again).
        return void o.onDeliver(pdu).then(
          (status) => send(pdu.response({ command_status: status })),
          () => send(pdu.response({ command_status: 0x64 })),
        );
      case 'unbind': {
        send(pdu.response());
        const s = session;
        closed('SMPP_UNBOUND');
        return s?.close();
      }
      case 'alert_notification':
      case 'outbind':
        return; // no answer is defined for these
      default:
        if (pdu.command === 'unknown') return void send(pdu.response());
        return void send(new smpp.PDU('generic_nack', { sequence_number: pdu.sequence_number, command_status: ESME_RINVCMDID }));
    }
  }

  function wire(s: Session) {
    s.on('pdu', (pdu: PDU) => {
      lastHeard = Date.now();
      if (!pdu.isResponse()) onRequest(pdu);
    });
    // A socket error (ECONNRESET…) is a dropped connection; one without a code is a PDU node-smpp could not parse,
    // after which it reads no more: either way the connection is of no further use.
    s.on('error', (err: { code?: string }) => {
      o.log.warn({ error: err?.code ?? 'unreadable' }, 'smpp.connection.error');
      destroy(err?.code ? 'SMPP_DROPPED' : 'SMPP_UNREADABLE');
    });
    s.on('close', () => closed(state === 'closing' ? 'SMPP_CLOSED' : 'SMPP_DROPPED'));
  }

  /** enquire_link when nothing was heard for a while (or a submit went unanswered); no answer → the line is dead. */
  function probe() {
    if (probing || state !== 'bound') return;
    probing = true;
    const timer = setTimeout(() => destroy('SMPP_LINK_TIMEOUT'), o.timeoutMs);
    timer.unref();
    const sent = send(new smpp.PDU('enquire_link'), () => {
      probing = false;
      clearTimeout(timer);
    });
    if (!sent) {
      clearTimeout(timer);
      destroy('SMPP_DROPPED');
    }
  }

  /** Connects and binds as a transceiver; throws SmppError (the centre's refusal, or the connection's failure). */
  async function open(): Promise<void> {
    if (state !== 'new') throw new SmppError('SMPP_CLOSED');
    state = 'binding';
    let socket;
    try {
      socket = await o.connect(o.endpoint, o.timeoutMs, o.portalId);
    } catch (err) {
      state = 'closed';
      throw new SmppError(String((err as { code?: string }).code ?? 'SMPP_CONNECT_FAILED'));
    }
    if (state !== 'binding') {
      socket.destroy(); // closed while connecting
      throw new SmppError(closedCode);
    }
    session = new smpp.Session({ socket });
    wire(session);
    let bindTimer: NodeJS.Timeout | undefined;
    const resp = await new Promise<PDU | string>((resolve) => {
      bindTimer = setTimeout(() => resolve('SMPP_BIND_TIMEOUT'), o.timeoutMs);
      closeWaiters.push(() => resolve(closedCode));
      const sent = send(
        new smpp.PDU('bind_transceiver', {
          system_id: o.credentials.systemId,
          password: o.credentials.password,
          system_type: o.credentials.systemType,
          interface_version: INTERFACE_VERSION_34,
          addr_ton: 0,
          addr_npi: 0,
          address_range: '',
        }),
        (pdu) => resolve(pdu),
      );
      if (!sent) resolve('SMPP_DROPPED');
    });
    clearTimeout(bindTimer);
    closeWaiters = [];
    if (typeof resp === 'string') {
      destroy(resp);
      throw new SmppError(resp);
    }
    if (resp.command_status !== 0) {
      destroy('SMPP_BIND_REFUSED');
      throw new SmppError(statusName(resp.command_status), resp.command_status);
    }
    if (state !== 'binding') throw new SmppError(closedCode);
    state = 'bound';
    lastHeard = Date.now();
    keepAlive = setInterval(() => {
      if (Date.now() - lastHeard >= o.enquireLinkMs) probe();
    }, o.enquireLinkMs);
    keepAlive.unref();
  }

  function takeWindow(timeoutMs: number): Promise<boolean> {
    if (state !== 'bound') return Promise.resolve(false);
    if (outstanding < o.window() && !waiting.length) {
      outstanding++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const entry = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(entry), 1);
        resolve(false);
      }, timeoutMs);
      waiting.push(entry);
    });
  }

  function releaseWindow() {
    if (state === 'closed') return;
    outstanding = Math.max(0, outstanding - 1);
    while (waiting.length && outstanding < o.window()) {
      outstanding++;
      waiting.shift()!(true);
    }
  }

  /**
   * One submit_sm in the window: waits up to `waitMs` for a place in it (and `beforeWrite`, the account's pace),
   * then for the answer up to the timeout.
   * No answer in time, or the connection ending after the PDU was written, is `lost`: the centre may have it. An
   * answer that comes after all goes to `onLate`.
   */
  async function submit(
    params: Record<string, unknown>,
    o2: { waitMs: number; beforeWrite?: () => Promise<boolean>; onLate?: (answer: Answer) => void },
  ): Promise<SubmitResult> {
    const onLate = o2.onLate;
    if (!(await takeWindow(o2.waitMs))) return { kind: 'not_sent', code: state === 'bound' ? 'SMPP_WINDOW_FULL' : 'SMPP_NOT_BOUND' };
    // The account's pace is taken inside the window, so that submits leave no faster than it however the window frees.
    if (o2.beforeWrite && !(await o2.beforeWrite())) {
      releaseWindow();
      return { kind: 'not_sent', code: 'SMPP_PACE' };
    }
    if (state !== 'bound') return { kind: 'not_sent', code: 'SMPP_NOT_BOUND' };
    return new Promise<SubmitResult>((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (r: SubmitResult) => {
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      const fail = (code: string) => {
        inFlight.delete(fail);
        if (!done) finish({ kind: 'lost', code });
      };
      const sent = send(new smpp.PDU('submit_sm', params), (resp) => {
        inFlight.delete(fail);
        if (done) overdue = Math.max(0, overdue - 1);
        releaseWindow();
        const answer: Answer = { kind: 'answered', status: resp.command_status, messageId: (typeof resp.message_id === 'string' && messageId(resp.message_id)) || '' };
        if (!done) finish(answer);
        else onLate?.(answer);
      });
      if (!sent) {
        releaseWindow();
        return finish({ kind: 'not_sent', code: 'SMPP_NOT_BOUND' });
      }
      inFlight.add(fail);
      timer = setTimeout(() => {
        if (done) return;
        finish({ kind: 'lost', code: 'SMPP_TIMEOUT' });
        // A centre that never answers some submits but still answers enquire_link would keep their places in the
        // window for ever: once every place is held so, the bind is dropped and made again (the pool reconnects).
        if (++overdue >= o.window()) return destroy('SMPP_WINDOW_STUCK');
        probe(); // an unanswered submit may mean a dead line
      }, o.timeoutMs);
    });
  }

  /** unbind, its answer (or the timeout), then the connection closes. */
  async function unbind(): Promise<void> {
    if (state !== 'bound') return destroy('SMPP_CLOSED');
    state = 'closing';
    for (const w of waiting.splice(0)) w(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(o.timeoutMs, 5_000));
      closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (!send(new smpp.PDU('unbind'), () => (clearTimeout(timer), resolve()))) {
        clearTimeout(timer);
        resolve();
      }
    });
    const s = session;
    if (isClosed() || !s) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (s.destroy(), resolve()), 1_000);
      closeWaiters.push(() => (clearTimeout(timer), resolve()));
      s.close();
    });
    closed('SMPP_CLOSED');
  }

  function isClosed() {
    return state === 'closed';
  }

  return {
    open,
    submit,
    unbind,
    destroy,
    isBound: () => state === 'bound',
    isClosed,
    /** Submits without their answer yet (the window in use). */
    outstanding: () => outstanding,
  };
}

export type SmppSession = ReturnType<typeof createSmppSession>;
