import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGatewayAddressCheck } from '../src/platform/address-guard.js';
import { createLogger } from '../src/platform/logger.js';
import { guardedConnect } from '../src/gateways/smpp/connect.js';
import { createPace } from '../src/gateways/smpp/pace.js';
import { RECEIPTS_IN_HAND, createSmppPool, type SmppAccountSettings, type SmppPoolOptions, type SmppReceiptSink } from '../src/gateways/smpp/pool.js';
import { encodeText } from '../src/gateways/smpp/codec.js';
import { ESME, startSmscSimulator, type SmscSimulator } from './fakes/smsc-simulator.js';
import { freePort } from './helpers/free-port.js';
import { eventually } from './helpers/wait.js';

// The pool and its sessions against the simulator over real TCP, without a database: the sink records what it hears.
const log = createLogger('silent');
const connect = (allowPrivate = true) =>
  guardedConnect(createGatewayAddressCheck({ allowPrivate, publicUrl: 'https://sms.example.test', lookup: async () => [] }));
const options: SmppPoolOptions = { binds: 1, timeoutMs: 1_000, enquireLinkMs: 30_000, idleMs: 60_000, reconnectBaseMs: 50, reconnectCapMs: 200 };

let smsc: SmscSimulator;
let heard: string[];
const sink: SmppReceiptSink = {
  accepted: async (portalId, p) => void heard.push(`accepted ${portalId} ${p.messageId}/${p.part} ${p.smscId}`),
  receipt: async (portalId, r) => void heard.push(`receipt ${portalId} ${r.id} ${r.status.state}`),
  late: async (portalId, messageId, o) => void heard.push(`late ${portalId} ${messageId} ${o.accepted}`),
};
const pools: Array<ReturnType<typeof createSmppPool>> = [];
function pool(o: Partial<SmppPoolOptions> = {}, allowPrivate = true) {
  const p = createSmppPool({ connect: connect(allowPrivate), log, options: { ...options, ...o }, sink, random: () => 0.5 });
  pools.push(p);
  return p;
}
const account = (o: Partial<SmppAccountSettings['credentials']> = {}, extra: Partial<SmppAccountSettings> = {}): SmppAccountSettings => ({
  endpoint: { host: '127.0.0.1', port: smsc.port, tls: false },
  credentials: { systemId: 'shop01', password: 'secret1', systemType: '', ...o },
  tps: 1000,
  window: 10,
  ...extra,
});
const submitParams = (to = '79991234567', text = 'Hello') => ({
  source_addr_ton: 5, source_addr_npi: 0, source_addr: 'MyShop', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: to,
  esm_class: 0, registered_delivery: 1, data_coding: 0, short_message: encodeText(text, 1).parts[0],
});

beforeEach(async () => {
  heard = [];
  smsc = await startSmscSimulator({ idFormat: 'hex' });
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await smsc.close();
});

describe('the credential check (bind, then unbind)', () => {
  it('binds as a 3.4 transceiver and unbinds', async () => {
    expect(await pool().check(account())).toEqual({ ok: true });
    expect(smsc.binds).toEqual([{ systemId: 'shop01', status: 0 }]);
    expect(smsc.stats.unbinds).toBe(1);
  });

  it.each([
    ['a wrong password', { password: 'wrong' }, 'ESME_RINVPASWD', ESME.RINVPASWD],
    ['an unknown system id', { systemId: 'nobody' }, 'ESME_RINVSYSID', ESME.RINVSYSID],
  ] as const)('reports %s by the centre\'s code', async (_, creds, code, status) => {
    expect(await pool().check(account(creds))).toEqual({ ok: false, code, status });
  });

  it('reports ESME_RBINDFAIL, and too many binds for the account', async () => {
    smsc.refuseBinds(ESME.RBINDFAIL);
    expect(await pool().check(account())).toEqual({ ok: false, code: 'ESME_RBINDFAIL', status: ESME.RBINDFAIL });
  });

  it('reports a centre that cannot be reached by the socket\'s code, without a status', async () => {
    const closed = await freePort();
    const r = await pool().check({ ...account(), endpoint: { host: '127.0.0.1', port: closed, tls: false } });
    expect(r).toEqual({ ok: false, code: 'ECONNREFUSED' });
  });

  it('never connects to an internal address unless private gateways are allowed', async () => {
    const r = await pool({}, false).check(account());
    expect(r).toMatchObject({ ok: false, code: 'GATEWAY_ADDRESS_FORBIDDEN' });
    expect(smsc.stats.connections).toBe(0);
  });
});

describe('SMPP over TLS (ssmpp://)', () => {
  const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

  it('binds over TLS to a centre whose certificate verifies, and refuses one that does not', async () => {
    const secure = await startSmscSimulator({ tls: { key: fixture('smsc-tls.key'), cert: fixture('smsc-tls.crt') } });
    try {
      const settings = { ...account(), endpoint: { host: '127.0.0.1', port: secure.port, tls: true } };
      const check = createGatewayAddressCheck({ allowPrivate: true, publicUrl: 'https://sms.example.test', lookup: async () => [] });
      const trusting = createSmppPool({ connect: guardedConnect(check, { ca: fixture('smsc-tls.crt') }), log, options });
      pools.push(trusting);
      expect(await trusting.check(settings)).toEqual({ ok: true });
      expect(secure.binds).toEqual([{ systemId: 'shop01', status: 0 }]);
      const r = await pool().check(settings); // the system's CAs only: a self-signed centre is not trusted
      expect(r).toMatchObject({ ok: false, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      expect(secure.binds).toHaveLength(1);
    } finally {
      await secure.close();
    }
  });
});

describe('the pool', () => {
  it('keeps one account per portal: adapters built again share its bind and pace', async () => {
    const p = pool();
    const a = p.account(1, account());
    expect(p.account(1, account())).toBe(a);
    const results = await Promise.all([1, 2, 3].map(() => a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 1_000 })));
    expect(results.map((r) => r.kind)).toEqual(['answered', 'answered', 'answered']);
    expect(smsc.binds).toHaveLength(1);
    expect(smsc.submits).toHaveLength(3);
  });

  it('new connection settings for a portal replace its account: the old bind is unbound', async () => {
    const p = pool();
    await p.account(1, account()).keepBound(1_000);
    await p.account(1, account({ systemType: 'VMA' })).keepBound(1_000);
    await eventually(() => smsc.stats.unbinds === 1, 'the old bind to end');
    expect(smsc.boundSessions()).toBe(1);
  });

  it('opens SMPP_BINDS binds per account and spreads submits over them', async () => {
    const p = pool({ binds: 2 });
    const a = p.account(1, account());
    smsc.holdNext(4);
    const runs = [1, 2, 3, 4].map(() => a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 1_000 }));
    await eventually(() => smsc.held() === 4, 'four submits at the centre');
    expect(smsc.boundSessions('shop01')).toBe(2);
    smsc.release();
    await Promise.all(runs);
    expect(smsc.maxOutstanding()).toBe(2); // two on each bind
  });

  it('never has more unanswered submits than the window at the centre, and waits for room rather than overflowing', async () => {
    const a = pool().account(1, account({}, { window: 2 }));
    smsc.holdNext(6);
    const runs = Array.from({ length: 6 }, () => a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 5_000 }));
    for (let released = 0; released < 6; ) {
      await eventually(() => smsc.held() > 0, 'a held submit');
      released += smsc.held();
      smsc.release();
    }
    expect((await Promise.all(runs)).every((r) => r.kind === 'answered' && r.status === 0)).toBe(true);
    expect(smsc.maxOutstanding()).toBe(2);
    expect(smsc.stats.windowOverflows).toBe(0);
  });

  it('a submit that finds no room in the window in time is not sent (safe to try again)', async () => {
    const a = pool().account(1, account({}, { window: 1 }));
    smsc.holdNext(1);
    const first = a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 1_000 });
    await eventually(() => smsc.held() === 1, 'the first submit held');
    expect(await a.submit(submitParams(), { messageId: 2, part: 0, parts: 1 }, { waitMs: 50 })).toEqual({ kind: 'not_sent', code: 'SMPP_WINDOW_FULL' });
    smsc.release();
    await first;
    expect(smsc.submits).toHaveLength(1);
  });

  it('a submit the centre does not answer in time is lost, and its late answer still reaches the sink', async () => {
    const a = pool({ timeoutMs: 200 }).account(1, account());
    smsc.answerLate(400);
    const late: number[] = [];
    const r = await a.submit(submitParams(), { messageId: 7, part: 0, parts: 1 }, { waitMs: 1_000, onLate: (x) => (late.push(x.status), { accepted: true, firstId: x.messageId }) });
    expect(r).toEqual({ kind: 'lost', code: 'SMPP_TIMEOUT' });
    await eventually(() => heard.length === 2, 'the late answer');
    expect(heard).toEqual([`accepted 1 7/0 ${smsc.submits[0]!.messageId}`, 'late 1 7 true']);
    expect(late).toEqual([0]);
  });

  it('a window held only by submits the centre never answers is dropped and bound again, so the account does not stall', async () => {
    const a = pool({ timeoutMs: 200 }).account(1, account({}, { window: 2 }));
    smsc.holdNext(2); // answered by nobody, while enquire_link still is
    const lost = await Promise.all([1, 2].map((id) => a.submit(submitParams(), { messageId: id, part: 0, parts: 1 }, { waitMs: 1_000 })));
    expect(lost).toEqual([{ kind: 'lost', code: 'SMPP_TIMEOUT' }, { kind: 'lost', code: 'SMPP_TIMEOUT' }]);
    await eventually(() => smsc.boundSessions() === 1 && smsc.binds.length === 2, 'a new bind');
    expect(await a.submit(submitParams(), { messageId: 3, part: 0, parts: 1 }, { waitMs: 1_000 })).toMatchObject({ kind: 'answered', status: 0 });
  });

  it('after a drop, submits in flight are lost (never resent) and the account binds again', async () => {
    const a = pool().account(1, account());
    smsc.holdNext(1);
    const inFlight = a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 1_000 });
    await eventually(() => smsc.held() === 1, 'the submit at the centre');
    smsc.dropAll();
    expect(await inFlight).toEqual({ kind: 'lost', code: 'SMPP_DROPPED' });
    await eventually(() => smsc.boundSessions() === 1 && smsc.binds.length === 2, 'a new bind after the drop');
    expect(smsc.submits).toHaveLength(1);
    const next = await a.submit(submitParams(), { messageId: 2, part: 0, parts: 1 }, { waitMs: 1_000 });
    expect(next).toMatchObject({ kind: 'answered', status: 0 });
  });

  it('a centre that unbinds is answered, and the account binds again', async () => {
    const a = pool().account(1, account());
    await a.keepBound(1_000);
    smsc.dropAll();
    await eventually(() => smsc.binds.length === 2 && smsc.boundSessions() === 1, 'the bind again');
  });

  it('a refused bind keeps the account from sending, with the centre\'s code, until it binds', async () => {
    smsc.refuseBinds(ESME.RINVPASWD);
    const a = pool().account(1, account());
    expect(await a.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 500 })).toEqual({ kind: 'not_sent', code: 'ESME_RINVPASWD', status: ESME.RINVPASWD });
    smsc.refuseBinds(undefined);
    await eventually(async () => (await a.submit(submitParams(), { messageId: 2, part: 0, parts: 1 }, { waitMs: 500 })).kind === 'answered', 'a bind after the backoff', 5_000);
  });

  it('sends enquire_link when the bind is quiet, and answers the centre\'s', async () => {
    await pool({ enquireLinkMs: 50 }).account(1, account()).keepBound(1_000);
    await eventually(() => smsc.stats.enquireLinks >= 2, 'enquire_link');
    expect(await smsc.ping()).toBe(0);
  });

  it('a bind whose enquire_link goes unanswered is dropped and bound again', async () => {
    const p = pool({ enquireLinkMs: 50, timeoutMs: 200 });
    await p.account(1, account()).keepBound(1_000);
    smsc.holdEnquireLinks(true);
    await eventually(() => smsc.binds.length >= 2, 'a new bind after the silent one');
    smsc.holdEnquireLinks(false);
    await eventually(() => smsc.boundSessions() === 1, 'one bind again');
  });

  it('a centre that stops reading what we write is dropped before our answers to it pile up (said once in the log), and the account binds again', async () => {
    const lines: string[] = [];
    const p = createSmppPool({ connect: connect(), log: createLogger('info', { write: (l: string) => void lines.push(l) }), options, sink });
    pools.push(p);
    await p.account(1, account()).keepBound(1_000);
    const flood = await smsc.floodWithoutReading(64 * 1024 * 1024);
    // Kernel buffers on both ends take some megabytes first; past those the answers would wait in our memory.
    expect(flood.hungUp).toBe(true);
    expect(flood.sent).toBeLessThan(32 * 1024 * 1024);
    await eventually(async () => (await p.account(1, account()).keepBound(1_000)) === undefined && smsc.boundSessions() === 1, 'a new bind');
    expect(lines.filter((l) => l.includes('smpp.connection.not_reading'))).toHaveLength(1);
  }, 60_000);

  it('close() unbinds every session', async () => {
    const p = pool({ binds: 2 });
    await p.account(1, account()).keepBound(1_000);
    await p.account(2, account()).keepBound(1_000);
    await eventually(() => smsc.boundSessions() === 4, 'four binds');
    await p.close();
    expect(smsc.stats.unbinds).toBe(4);
    await eventually(() => smsc.boundSessions() === 0, 'no bind left');
  });
});

describe('what the centre sends', () => {
  it('a part\'s id reaches the sink before its receipt, and every deliver_sm is answered', async () => {
    const a = pool().account(3, account());
    const r = await a.submit(submitParams(), { messageId: 11, part: 0, parts: 1 }, { waitMs: 1_000 });
    expect(r).toMatchObject({ kind: 'answered', status: 0 });
    const id = smsc.submits[0]!.messageId;
    expect(await smsc.receipt(id, 'DELIVRD', { to: '79991234567', form: 'tlv', idFormat: 'hex' })).toBe(0);
    expect(heard).toEqual([`accepted 3 11/0 ${id}`, `receipt 3 ${id} delivered`]);
  });

  it('two portals on one account: a part\'s id reaches the sink before its receipt, though the receipt comes over the other portal\'s bind', async () => {
    let storeParts!: () => void;
    const partsStored = new Promise<void>((r) => (storeParts = r));
    // Storing the second portal's part takes a while (a busy database).
    const slowSink: SmppReceiptSink = { ...sink, accepted: async (portalId, p) => void (await partsStored, heard.push(`accepted ${portalId} ${p.messageId}/${p.part} ${p.smscId}`)) };
    const p = createSmppPool({ connect: connect(), log, options, sink: slowSink, random: () => 0.5 });
    pools.push(p);
    await p.account(1, account()).keepBound(1_000); // the first portal's bind: the centre's receipts go over it
    const second = p.account(2, account());
    expect(await second.submit(submitParams(), { messageId: 21, part: 0, parts: 1 }, { waitMs: 1_000 })).toMatchObject({ kind: 'answered', status: 0 });
    const id = smsc.submits[0]!.messageId;
    const answered = smsc.receipt(id, 'DELIVRD', { to: '79991234567', form: 'tlv', idFormat: 'hex' });
    await new Promise((r) => setTimeout(r, 200)); // the receipt is read meanwhile, and must wait
    expect(heard).toEqual([]);
    storeParts();
    expect(await answered).toBe(0);
    expect(heard).toEqual([`accepted 2 21/0 ${id}`, `receipt 1 ${id} delivered`]);
  });

  it('an incoming SMS (no receipt bit) is answered, logged with masked numbers and no text, and goes nowhere', async () => {
    const lines: string[] = [];
    const p = createSmppPool({ connect: connect(), log: createLogger('info', { write: (l: string) => void lines.push(l) }), options, sink });
    pools.push(p);
    await p.account(3, account()).keepBound(1_000);
    expect(await smsc.incoming('79991234567', '74950001122', 'STOP please')).toBe(0);
    expect(heard).toEqual([]);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'smpp.incoming');
    expect(logged).toMatchObject({ portalId: 3, from: '*******4567', to: '*******1122', length: 11 });
    expect(lines.join('')).not.toMatch(/79991234567|74950001122|STOP/);
  });

  it('a receipt that names no message id is answered, and ignored', async () => {
    await pool().account(3, account()).keepBound(1_000);
    expect(await smsc.deliver({ source_addr: '79991234567', esm_class: 4, short_message: Buffer.from('stat:DELIVRD err:000') })).toBe(0);
    expect(heard).toEqual([]);
  });
});

describe('a centre that floods receipts', () => {
  const hexId = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  /** The centre writes every receipt at once, without waiting for any answer; each resolves with [id, answer]. */
  const flood = (ids: string[]) =>
    ids.map((id) => smsc.receipt(id, 'DELIVRD', { to: '79991234567', form: 'tlv', idFormat: 'hex' }).then((status) => [id, status] as const));

  it('takes at most RECEIPTS_IN_HAND at once and answers the rest at once with the receiver\'s temporary error (ESME_RX_T_APPN); submits on the same bind and other accounts are still answered; every receipt answered ESME_ROK was applied', async () => {
    let open!: () => void;
    const stored = new Promise<void>((r) => (open = r)); // the database, stuck until the test opens it
    const applied: string[] = [];
    const slow: SmppReceiptSink = { ...sink, receipt: async (_, r) => void (await stored, applied.push(r.id)) };
    const p = createSmppPool({ connect: connect(), log, options, sink: slow, random: () => 0.5 });
    pools.push(p);
    const flooded = p.account(1, account());
    await flooded.keepBound(1_000);

    const ids = Array.from({ length: 20_000 }, (_, i) => hexId(0x10000000 + i * 7919));
    const answers = flood(ids);
    try {
      await eventually(() => smsc.stats.deliverResps.length === ids.length - RECEIPTS_IN_HAND, 'the receipts past the first ones answered', 10_000);
      expect(new Set(smsc.stats.deliverResps)).toEqual(new Set([ESME.RX_T_APPN]));
      expect(applied).toEqual([]);

      // The bind still reads: its own submit is answered, and so is another portal's on its own bind.
      expect(await flooded.submit(submitParams(), { messageId: 1, part: 0, parts: 1 }, { waitMs: 1_000 })).toMatchObject({ kind: 'answered', status: 0 });
      expect(await p.account(2, account()).submit(submitParams(), { messageId: 2, part: 0, parts: 1 }, { waitMs: 1_000 })).toMatchObject({ kind: 'answered', status: 0 });
      expect(smsc.stats.deliverResps).toHaveLength(ids.length - RECEIPTS_IN_HAND);
    } finally {
      open();
    }
    const answered = await Promise.all(answers);
    const taken = answered.filter(([, status]) => status === ESME.ROK).map(([id]) => id);
    expect(taken).toHaveLength(RECEIPTS_IN_HAND);
    expect(answered.filter(([, status]) => status === ESME.RX_T_APPN)).toHaveLength(ids.length - RECEIPTS_IN_HAND);
    expect(applied.sort()).toEqual(taken.sort());
  });

  it('receipts answered ESME_RX_T_APPN and sent again later are each applied once, and none is lost', async () => {
    const applied: string[] = [];
    const slow: SmppReceiptSink = { ...sink, receipt: async (_, r) => void (await new Promise((r2) => setImmediate(r2)), applied.push(r.id)) };
    const p = createSmppPool({ connect: connect(), log, options, sink: slow, random: () => 0.5 });
    pools.push(p);
    await p.account(1, account()).keepBound(1_000);
    let pending = Array.from({ length: 2_000 }, (_, i) => hexId(0x20000000 + i));
    const all = [...pending];
    // Each round starts with nothing in hand, so it takes at least RECEIPTS_IN_HAND of them.
    for (let round = 0; pending.length && round < Math.ceil(all.length / RECEIPTS_IN_HAND); round++) {
      const answered = await Promise.all(flood(pending));
      expect(answered.every(([, status]) => status === ESME.ROK || status === ESME.RX_T_APPN)).toBe(true);
      pending = answered.filter(([, status]) => status !== ESME.ROK).map(([id]) => id);
    }
    expect(pending).toEqual([]);
    expect(applied.sort()).toEqual(all.sort());
  });
});

describe('the pace', () => {
  it('spaces submits evenly at the limit, halves after "slow down" and pauses a second, and climbs back by one per accepted submit', async () => {
    let now = 0;
    const slept: number[] = [];
    const pace = createPace(5, () => now, async (ms) => void slept.push(ms));
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      await pace.take(10_000);
      starts.push(now + (slept.at(-1) ?? 0));
    }
    expect(slept).toEqual([200, 400, 600]); // all asked at t=0: turns at 0, 200, 400, 600
    expect(await pace.take(500)).toBe(false); // the next turn (800) is further than 500 ms away
    now = 1_000;
    slept.length = 0;
    pace.slowDown();
    expect(pace.rate()).toBe(2.5);
    await pace.take(10_000);
    expect(slept).toEqual([1_000]); // paused a second
    pace.ok();
    pace.ok();
    pace.ok();
    expect(pace.rate()).toBe(5); // never above the limit
  });
});
