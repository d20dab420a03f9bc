import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import smpp from 'smpp';

/**
 * An SMS centre speaking SMPP 3.4 over real TCP on 127.0.0.1 (gateways.md §6), as strict as a real one: it reads
 * every request from the raw bytes itself (node-smpp only builds its answers and deliver_sm), refuses what a centre
 * refuses (a request before the bind, a second bind, interface versions other than 3.4, over-long fields, bad
 * addresses, data codings other than 0 and 8, a short_message over 140 octets or 160 septets, a broken UDH, more
 * unanswered requests than its window), counts its own outstanding answers, and wants a deliver_sm_resp for each
 * deliver_sm it sends. Tests steer it: refuse or hold or drop the next submits, send receipts (TLV form, text form or
 * both; ids in hex or decimal) and incoming SMS, drop every connection.
 */

const CMD = {
  generic_nack: 0x80000000, bind_receiver: 0x01, bind_transmitter: 0x02, bind_transceiver: 0x09, bind_transceiver_resp: 0x80000009,
  submit_sm: 0x04, deliver_sm_resp: 0x80000005, unbind: 0x06, unbind_resp: 0x80000006, enquire_link: 0x15, enquire_link_resp: 0x80000015,
};
export const ESME = {
  ROK: 0x00, RINVMSGLEN: 0x01, RINVCMDLEN: 0x02, RINVCMDID: 0x03, RINVBNDSTS: 0x04, RALYBND: 0x05, RSYSERR: 0x08, RINVSRCADR: 0x0a,
  RINVDSTADR: 0x0b, RBINDFAIL: 0x0d, RINVPASWD: 0x0e, RINVSYSID: 0x0f, RMSGQFUL: 0x14, RINVESMCLASS: 0x43, RSUBMITFAIL: 0x45,
  RINVSRCTON: 0x48, RTHROTTLED: 0x58, RX_T_APPN: 0x64, RINVDCS: 0x104,
};

const GSM = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT: Record<number, string> = { 0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']', 0x40: '|', 0x65: '€' };

export interface Submit {
  systemId: string;
  sourceTon: number;
  sourceNpi: number;
  source: string;
  destTon: number;
  destNpi: number;
  dest: string;
  esmClass: number;
  dataCoding: number;
  registeredDelivery: number;
  udh?: { ref: number; total: number; seq: number };
  text: string;
  octets: number;
  /** The id the centre gave it (also for a submit whose answer was held back or lost with the connection). */
  messageId: string;
  status: number;
}

export interface Assembled {
  dest: string;
  source: string;
  text: string;
  parts: number;
  ref?: number;
  ids: string[];
}

type Session = {
  socket: Socket;
  systemId?: string;
  bound: boolean;
  outstanding: number; // requests of the client's this centre has not answered yet
  maxOutstanding: number;
  waitingResp: Map<number, (status: number) => void>; // our deliver_sm awaiting the client's deliver_sm_resp
  seq: number;
};

type Fate = { kind: 'refuse'; status: number } | { kind: 'hold' } | { kind: 'drop' } | { kind: 'late'; ms: number; status?: number };

export async function startSmscSimulator(opts: {
  accounts?: Record<string, string>;
  /** Binds one account may hold at once; more are refused with ESME_RBINDFAIL. */
  maxBinds?: number;
  /** Unanswered requests per session; one more is answered ESME_RTHROTTLED. */
  window?: number;
  /** How submit_sm_resp writes ids, and how receipts write them (by default the other way round: centres differ). */
  idFormat?: 'hex' | 'decimal';
  receiptIdFormat?: 'hex' | 'decimal';
  /** Numbers the centre refuses with ESME_RINVDSTADR. */
  invalidDestinations?: string[];
  /** SMPP over TLS (ssmpp://) with this key and certificate. */
  tls?: { key: Buffer; cert: Buffer };
} = {}) {
  const accounts = opts.accounts ?? { shop01: 'secret1' };
  const maxBinds = opts.maxBinds ?? 4;
  const window = opts.window ?? 10;
  const idFormat = opts.idFormat ?? 'hex';
  const receiptIdFormat = opts.receiptIdFormat ?? (idFormat === 'hex' ? 'decimal' : 'hex');
  const invalid = new Set(opts.invalidDestinations ?? []);
  const sessions = new Set<Session>();
  const submits: Submit[] = [];
  const binds: Array<{ systemId: string; status: number }> = [];
  const stats = { connections: 0, unbinds: 0, enquireLinks: 0, windowOverflows: 0, genericNacks: 0, refusedRequests: 0, deliverResps: [] as number[] };
  const fates: Fate[] = [];
  const held: Array<() => void> = [];
  let nextId = 0x2f4a10;
  let bindRefusal: number | undefined;
  let bindsHeld = false;
  const heldBinds: Array<() => void> = [];
  let maxSeen = 0; // of sessions already closed
  let silent = false;

  const formatId = (n: number, format: 'hex' | 'decimal') => (format === 'hex' ? n.toString(16).toUpperCase().padStart(8, '0') : String(n));
  const numberOf = (id: string) => (/^[0-9]+$/.test(id) && idFormat === 'decimal' ? Number(id) : parseInt(id, 16));

  function write(s: Session, buf: Buffer) {
    if (!s.socket.destroyed) s.socket.write(buf);
  }
  function answer(s: Session, command: string, seq: number, status: number, fields: Record<string, unknown> = {}) {
    s.outstanding = Math.max(0, s.outstanding - 1);
    write(s, new smpp.PDU(command, { sequence_number: seq, command_status: status, ...fields }).toBuffer());
  }
  function nack(s: Session, seq: number, status: number) {
    stats.refusedRequests++;
    s.outstanding = Math.max(0, s.outstanding - 1);
    write(s, new smpp.PDU('generic_nack', { sequence_number: seq, command_status: status }).toBuffer());
  }

  /** Reads C-octet strings and integers from a PDU body, failing on a missing NUL or an over-long field. */
  function reader(buf: Buffer) {
    let at = 16;
    return {
      u8() {
        if (at >= buf.length) throw new Error('short');
        return buf[at++]!;
      },
      cstr(max: number) {
        const end = buf.indexOf(0, at);
        if (end < 0 || end - at > max) throw new Error('cstring');
        const s = buf.toString('latin1', at, end);
        at = end + 1;
        return s;
      },
      bytes(n: number) {
        if (at + n > buf.length) throw new Error('short');
        const b = buf.subarray(at, at + n);
        at += n;
        return b;
      },
    };
  }

  function onBind(s: Session, buf: Buffer, seq: number) {
    if (bindsHeld) return void heldBinds.push(() => onBind(s, buf, seq));
    let f;
    try {
      const r = reader(buf);
      f = { systemId: r.cstr(15), password: r.cstr(8), systemType: r.cstr(12), version: r.u8(), ton: r.u8(), npi: r.u8(), range: r.cstr(40) };
    } catch {
      binds.push({ systemId: '?', status: ESME.RINVCMDLEN });
      return answer(s, 'bind_transceiver_resp', seq, ESME.RINVCMDLEN);
    }
    const refuse = (status: number) => {
      binds.push({ systemId: f.systemId, status });
      answer(s, 'bind_transceiver_resp', seq, status);
    };
    if (s.bound) return refuse(ESME.RALYBND);
    if (bindRefusal !== undefined) return refuse(bindRefusal);
    if (f.version !== 0x34) return refuse(ESME.RBINDFAIL); // a 3.4 centre: interface_version 0x34 only
    if (!(f.systemId in accounts)) return refuse(ESME.RINVSYSID);
    if (accounts[f.systemId] !== f.password) return refuse(ESME.RINVPASWD);
    if ([...sessions].filter((x) => x.bound && x.systemId === f.systemId).length >= maxBinds) return refuse(ESME.RBINDFAIL);
    s.bound = true;
    s.systemId = f.systemId;
    binds.push({ systemId: f.systemId, status: 0 });
    answer(s, 'bind_transceiver_resp', seq, 0, { system_id: 'SIMSMSC' });
  }

  function decode(dataCoding: number, payload: Buffer): string {
    if (dataCoding === 8) return Buffer.from(payload).swap16().toString('utf16le');
    let out = '';
    for (let i = 0; i < payload.length; i++) {
      if (payload[i] === 0x1b && i + 1 < payload.length) out += GSM_EXT[payload[++i]!] ?? ' ';
      else out += GSM[payload[i]!];
    }
    return out;
  }

  /** submit_sm read field by field (SMPP 3.4 §4.4.1): the status a strict centre answers, and what it took. */
  function readSubmit(s: Session, buf: Buffer): { status: number; submit?: Omit<Submit, 'messageId' | 'status'> } {
    let f;
    try {
      const r = reader(buf);
      f = {
        serviceType: r.cstr(5), sourceTon: r.u8(), sourceNpi: r.u8(), source: r.cstr(20), destTon: r.u8(), destNpi: r.u8(), dest: r.cstr(20),
        esmClass: r.u8(), protocolId: r.u8(), priority: r.u8(), schedule: r.cstr(16), validity: r.cstr(16), registeredDelivery: r.u8(),
        replace: r.u8(), dataCoding: r.u8(), defaultMsgId: r.u8(), sm: r.bytes(r.u8()),
      };
    } catch {
      return { status: ESME.RINVCMDLEN };
    }
    if (f.destTon !== 1 || f.destNpi !== 1 || !/^\d{7,15}$/.test(f.dest) || invalid.has(f.dest)) return { status: ESME.RINVDSTADR };
    const alnum = f.sourceTon === 5 && f.sourceNpi === 0 && /^[\x20-\x7e]{1,11}$/.test(f.source);
    const intl = f.sourceTon === 1 && f.sourceNpi === 1 && /^\d{1,15}$/.test(f.source);
    const none = f.sourceTon === 0 && f.sourceNpi === 0 && f.source === '';
    if (!alnum && !intl && !none) return { status: f.sourceTon > 6 ? ESME.RINVSRCTON : ESME.RINVSRCADR };
    if (f.esmClass !== 0 && f.esmClass !== 0x40) return { status: ESME.RINVESMCLASS };
    if (f.dataCoding !== 0 && f.dataCoding !== 8) return { status: ESME.RINVDCS };
    let udh: Submit['udh'];
    let payload = f.sm;
    if (f.esmClass & 0x40) {
      const udhl = f.sm[0];
      if (udhl === undefined || udhl + 1 > f.sm.length) return { status: ESME.RINVESMCLASS };
      const ies = f.sm.subarray(1, udhl + 1);
      for (let i = 0; i + 1 < ies.length; i += 2 + ies[i + 1]!) {
        if (ies[i] === 0x00 && ies[i + 1] === 3) udh = { ref: ies[i + 2]!, total: ies[i + 3]!, seq: ies[i + 4]! };
      }
      if (!udh || udh.total < 2 || udh.seq < 1 || udh.seq > udh.total) return { status: ESME.RINVESMCLASS };
      payload = f.sm.subarray(udhl + 1);
    }
    const udhOctets = f.sm.length - payload.length;
    if (f.dataCoding === 8 && (f.sm.length > 140 || payload.length % 2)) return { status: ESME.RINVMSGLEN };
    if (f.dataCoding === 0 && (payload.some((b) => b > 0x7f) || payload.length + Math.ceil((udhOctets * 8) / 7) > 160)) return { status: ESME.RINVMSGLEN };
    return {
      status: 0,
      submit: {
        systemId: s.systemId!, sourceTon: f.sourceTon, sourceNpi: f.sourceNpi, source: f.source, destTon: f.destTon, destNpi: f.destNpi, dest: f.dest,
        esmClass: f.esmClass, dataCoding: f.dataCoding, registeredDelivery: f.registeredDelivery, udh, text: decode(f.dataCoding, payload), octets: f.sm.length,
      },
    };
  }

  function onSubmit(s: Session, buf: Buffer, seq: number) {
    if (s.outstanding > window) {
      stats.windowOverflows++;
      return answer(s, 'submit_sm_resp', seq, ESME.RTHROTTLED);
    }
    const read = readSubmit(s, buf);
    const fate = read.status === 0 ? fates.shift() : undefined;
    const status = read.status || (fate?.kind === 'refuse' || fate?.kind === 'late' ? (fate.status ?? 0) : 0);
    const messageId = status === 0 ? formatId(nextId++, idFormat) : '';
    if (read.submit) submits.push({ ...read.submit, messageId, status });
    if (fate?.kind === 'drop') return void s.socket.destroy(); // taken, and the connection lost before the answer
    const reply = () => answer(s, 'submit_sm_resp', seq, status, status === 0 ? { message_id: messageId } : {});
    if (fate?.kind === 'hold') return void held.push(reply);
    if (fate?.kind === 'late') return void setTimeout(reply, fate.ms);
    reply();
  }

  function onPdu(s: Session, buf: Buffer) {
    const id = buf.readUInt32BE(4);
    const status = buf.readUInt32BE(8);
    const seq = buf.readUInt32BE(12);
    if (id & 0x80000000) {
      if (id === CMD.generic_nack) stats.genericNacks++;
      if (id === CMD.deliver_sm_resp) stats.deliverResps.push(status);
      // The answer to one of ours (deliver_sm, enquire_link): by its sequence number.
      const waiter = s.waitingResp.get(seq);
      s.waitingResp.delete(seq);
      waiter?.(id === CMD.generic_nack ? status || ESME.RINVCMDID : status);
      return;
    }
    s.outstanding++;
    s.maxOutstanding = Math.max(s.maxOutstanding, s.outstanding);
    if (id === CMD.enquire_link) {
      stats.enquireLinks++;
      if (silent) return; // a centre that hangs: the line is open, nothing answers
      return answer(s, 'enquire_link_resp', seq, 0);
    }
    if (id === CMD.bind_transceiver) return onBind(s, buf, seq);
    if (id === CMD.bind_receiver || id === CMD.bind_transmitter) return nack(s, seq, ESME.RINVCMDID); // transceivers only
    if (!s.bound) return nack(s, seq, ESME.RINVBNDSTS);
    if (id === CMD.unbind) {
      stats.unbinds++;
      s.bound = false;
      answer(s, 'unbind_resp', seq, 0);
      return void s.socket.end();
    }
    if (id === CMD.submit_sm) return onSubmit(s, buf, seq);
    nack(s, seq, ESME.RINVCMDID);
  }

  const onSocket = (socket: Socket) => {
    const s: Session = { socket, bound: false, outstanding: 0, maxOutstanding: 0, waitingResp: new Map(), seq: 0 };
    sessions.add(s);
    stats.connections++;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readUInt32BE(0);
        if (length < 16 || length > 65_536) {
          write(s, new smpp.PDU('generic_nack', { sequence_number: 0, command_status: ESME.RINVCMDLEN }).toBuffer());
          return void socket.destroy();
        }
        if (pending.length < length) break;
        const pdu = pending.subarray(0, length);
        pending = pending.subarray(length);
        onPdu(s, pdu);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      maxSeen = Math.max(maxSeen, s.maxOutstanding);
      sessions.delete(s);
      for (const w of s.waitingResp.values()) w(-1);
    });
  };
  const server = opts.tls ? tls.createServer(opts.tls, onSocket) : net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  const bound = (systemId?: string) => [...sessions].filter((s) => s.bound && (!systemId || s.systemId === systemId));

  /** Sends a deliver_sm on a bound session of the account; resolves with the client's answer (-1: no answer, closed). */
  function deliver(fields: Record<string, unknown>, systemId?: string): Promise<number> {
    const s = bound(systemId)[0];
    if (!s) throw new Error('no bound session to deliver on');
    const seq = ++s.seq;
    return new Promise<number>((resolve) => {
      s.waitingResp.set(seq, resolve);
      write(s, new smpp.PDU('deliver_sm', { sequence_number: seq, ...fields }).toBuffer());
    });
  }

  return {
    url: `${opts.tls ? 'ssmpp' : 'smpp'}://127.0.0.1:${port}`,
    port,
    submits,
    binds,
    stats,
    /** The messages as a handset would show them: parts joined by their UDH reference, in order. */
    messages(): Assembled[] {
      const out: Assembled[] = [];
      const groups = new Map<string, Submit[]>();
      for (const m of submits.filter((x) => x.status === 0)) {
        if (!m.udh) out.push({ dest: m.dest, source: m.source, text: m.text, parts: 1, ids: [m.messageId] });
        else {
          const key = `${m.dest}/${m.source}/${m.udh.ref}/${m.udh.total}`;
          groups.set(key, [...(groups.get(key) ?? []), m]);
        }
      }
      for (const parts of groups.values()) {
        const sorted = [...parts].sort((a, b) => a.udh!.seq - b.udh!.seq);
        out.push({ dest: sorted[0]!.dest, source: sorted[0]!.source, text: sorted.map((p) => p.text).join(''), parts: sorted.length, ref: sorted[0]!.udh!.ref, ids: sorted.map((p) => p.messageId) });
      }
      return out;
    },
    /** Bound sessions now, and the most requests one session ever had unanswered. */
    boundSessions: (systemId?: string) => bound(systemId).length,
    maxOutstanding: () => Math.max(0, ...[...sessions].map((s) => s.maxOutstanding), maxSeen),
    /** The next submits: refused with `status`, held without answer until release(), lost with the connection, answered late (refused with `status`, when given). */
    refuseNext(status: number, n = 1) {
      for (let i = 0; i < n; i++) fates.push({ kind: 'refuse', status });
    },
    holdNext(n = 1) {
      for (let i = 0; i < n; i++) fates.push({ kind: 'hold' });
    },
    dropOnNext() {
      fates.push({ kind: 'drop' });
    },
    answerLate(ms: number, status?: number) {
      fates.push({ kind: 'late', ms, status });
    },
    held: () => held.length,
    release() {
      for (const reply of held.splice(0)) reply();
    },
    /** Leaves enquire_link unanswered (a hung centre). */
    holdEnquireLinks(on: boolean) {
      silent = on;
    },
    refuseBinds(status: number | undefined) {
      bindRefusal = status;
    },
    /** Leaves bind requests unanswered (a centre that binds very slowly) until called with false, then answers them. */
    holdBinds(on: boolean) {
      bindsHeld = on;
      if (!on) for (const bind of heldBinds.splice(0)) bind();
    },
    heldBinds: () => heldBinds.length,
    /** Drops every connection, as a network failure would. */
    dropAll() {
      for (const s of sessions) {
        maxSeen = Math.max(maxSeen, s.maxOutstanding);
        s.socket.destroy();
      }
    },
    /**
     * A delivery receipt for a message id this centre gave (in the receipt's own id format), as the TLVs, as the
     * text, or both. `to` is the handset's number (the original destination).
     */
    receipt(id: string, stat: string, o: { form?: 'tlv' | 'text' | 'both'; to: string; err?: string; excerpt?: string; idFormat?: 'hex' | 'decimal' }) {
      const form = o.form ?? 'both';
      const rid = formatId(numberOf(id), o.idFormat ?? receiptIdFormat);
      const state = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 }[stat] ?? 7;
      const text = `id:${rid} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:2611221200 done date:2611221201 stat:${stat} err:${o.err ?? '000'} text:${o.excerpt ?? ''}`;
      return deliver({
        source_addr_ton: 1, source_addr_npi: 1, source_addr: o.to, dest_addr_ton: 5, dest_addr_npi: 0, destination_addr: 'MyShop',
        esm_class: 0x04, data_coding: 0,
        short_message: form === 'tlv' ? Buffer.alloc(0) : Buffer.from(text, 'latin1'),
        ...(form === 'text' ? {} : { receipted_message_id: rid, message_state: state }),
      });
    },
    /** An SMS from a handset to the account (no receipt bit). */
    incoming(from: string, to: string, text: string) {
      return deliver({ source_addr_ton: 1, source_addr_npi: 1, source_addr: from, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: to, esm_class: 0, data_coding: 0, short_message: Buffer.from(text, 'latin1') });
    },
    /** Any deliver_sm, for odd ones (a receipt without an id). */
    deliver,
    /** enquire_link from the centre's side; resolves with the client's answer's status. */
    ping(systemId?: string): Promise<number> {
      const s = bound(systemId)[0];
      if (!s) throw new Error('no bound session');
      const seq = ++s.seq;
      return new Promise<number>((resolve) => {
        s.waitingResp.set(seq, resolve);
        write(s, new smpp.PDU('enquire_link', { sequence_number: seq }).toBuffer());
      });
    },
    /**
     * A centre that stops reading: it no longer reads what the client writes and sends enquire_link after
     * enquire_link (each wants an answer) as fast as the client takes them, until `maxBytes` went or the client hung up.
     */
    async floodWithoutReading(maxBytes: number, systemId?: string): Promise<{ sent: number; hungUp: boolean }> {
      const s = bound(systemId)[0];
      if (!s) throw new Error('no bound session');
      s.socket.pause();
      let hungUp = false;
      const gone = new Promise<void>((r) => s.socket.once('close', () => r((hungUp = true) && undefined)));
      let sent = 0;
      const perChunk = 4096;
      while (sent < maxBytes && !hungUp) {
        const chunk = Buffer.alloc(16 * perChunk);
        for (let i = 0; i < perChunk; i++) {
          chunk.writeUInt32BE(16, i * 16);
          chunk.writeUInt32BE(CMD.enquire_link, i * 16 + 4);
          chunk.writeUInt32BE(++s.seq, i * 16 + 12);
        }
        sent += chunk.length;
        if (!s.socket.write(chunk)) await Promise.race([new Promise<void>((r) => s.socket.once('drain', () => r())), gone]);
      }
      return { sent, hungUp };
    },
    async close() {
      for (const s of sessions) s.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}


export type SmscSimulator = Awaited<ReturnType<typeof startSmscSimulator>>;
