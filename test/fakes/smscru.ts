import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { segmentsOf } from '../../src/gateways/segments.js';

/**
 * A fake SMSC.ru (gateways.md §5 and SMSC's own API pages) over real HTTP on 127.0.0.1: /sys/send.php,
 * /sys/status.php (single and multi form), /sys/balance.php, GET or POST, answers in JSON with fmt=3 (text
 * otherwise), texts read as windows-1251 unless charset=utf-8. At least as strict as SMSC is documented to be:
 * - error 2 for an unknown login or a wrong password; 4 for everything once this address made `blockAfterErrors`
 *   bad requests within a minute, for `blockMs`;
 * - error 9 for: the same send (login, numbers, text, sender; whatever the id) twice within a minute; 15 or more
 *   requests of one login at once; 5 or more status requests at once; a second mass (multi form) status request
 *   within a minute; a sixth status request for one message within a minute; an eleventh balance request a minute;
 * - send errors 1 (parameters: no number, text over 1,000 characters, a bad `id`), 5 (a bad `time`), 3 (no money), 6 (forbidden sender
 *   or word), 7 (wrong number format), 8 (number refused) with the `id` where SMSC includes it (3, 6, 7, 8);
 * - statuses -3 (not found) … 25, with `err`; the single form (one number and id, no trailing comma) answers an id it
 *   does not have with error 3 instead, as SMSC's status page says ("3 – message not found. For a multiple request
 *   this error is returned as status -3").
 * Time is the test's `clock`, so "within a minute" follows the app's injected clock.
 */
export interface FakeSmscMessage {
  login: string;
  id: string;
  phone: string; // digits
  mes: string;
  sender?: string;
  charset: string;
  cnt: number;
  status: number;
  err: number;
  at: number;
}

/** What becomes of the next sends: answered; stored and never answered; stored and the connection cut; lost before storing. */
export type SmscSendFate = 'ok' | 'storeThenHang' | 'storeThenDrop' | 'storeThen500' | 'loseBeforeStore';

export interface FakeSmscAccount {
  password: string;
  balance?: number;
  senders?: string[]; // approved sender names; absent: any
}

const ERRORS: Record<number, string> = {
  1: 'parameters error', 2: 'authorise error', 3: 'no money', 4: 'IP is blocked', 5: 'invalid date format',
  6: 'message is denied', 7: 'invalid phone', 8: "message can't be delivered", 9: 'duplicate request, wait a minute',
};
const MINUTE = 60_000;

export async function startFakeSmscRu(opts: {
  accounts?: Record<string, FakeSmscAccount>;
  clock?: () => number;
  pricePerSms?: number;
  blockAfterErrors?: number;
  blockMs?: number;
  forbiddenWords?: string[];
} = {}) {
  const clock = opts.clock ?? Date.now;
  const accounts = new Map(Object.entries(opts.accounts ?? {}).map(([login, a]) => [login, { ...a, balance: a.balance ?? 100 }]));
  const price = opts.pricePerSms ?? 2.5;
  const messages = new Map<string, FakeSmscMessage>();
  const key = (login: string, phone: string, id: string) => `${login}|${phone}|${id}`;
  const inFlight = new Map<string, { all: number; status: number }>();
  const recentSends: Array<{ sig: string; at: number }> = [];
  const massAt = new Map<string, number>();
  const perMessage = new Map<string, number[]>();
  const balanceAt = new Map<string, number[]>();
  const errorsAt: number[] = [];
  let blockedUntil = 0;
  const fates: SmscSendFate[] = [];
  const hung: http.ServerResponse[] = [];
  let hold: Promise<void> | undefined;
  let multiWithIds = true; // SMSC's pages do not show whether multi-form entries name their id
  let releaseHold: (() => void) | undefined;
  const invalid = new Set<string>(); // numbers answered with error 7
  const refused = new Set<string>(); // numbers answered with error 8
  const undeliverable = new Set<string>(); // settle(): status 20, err 1
  const unavailable = new Set<string>(); // settle(): status 25, err 248
  const statusRefusals = new Map<string, number>(); // our id → the error its status requests are answered with
  const stats = {
    sendRequests: 0, statusRequests: 0, massStatusRequests: 0, singleStatusRequests: 0, balanceRequests: 0,
    inFlightMax: 0, statusInFlightMax: 0, massIdsMax: 0, errors: {} as Record<number, number>,
  };
  const requests: Array<{ cmd: string; params: Record<string, string> }> = [];

  const recent = (list: number[], now: number) => list.filter((t) => now - t < MINUTE);
  const stamp = (list: Map<string, number[]>, k: string, now: number) => list.set(k, [...recent(list.get(k) ?? [], now), now]);

  function answer(res: http.ServerResponse, fmt: string, body: Record<string, unknown> | unknown[]) {
    const text = fmt === '3' ? JSON.stringify(body) : Array.isArray(body) ? body.map((b) => Object.values(b as object).join(',')).join('\n') : Object.entries(body).map(([k, v]) => `${k} = ${v}`).join(', ');
    res.writeHead(200, { 'content-type': fmt === '3' ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8' });
    res.end(text);
  }

  function fail(res: http.ServerResponse, fmt: string, code: number, id?: string) {
    stats.errors[code] = (stats.errors[code] ?? 0) + 1;
    const now = clock();
    // Bad requests (not the limits' own error 9, nor 4 itself) count towards blocking this address.
    if (code !== 9 && code !== 4) {
      errorsAt.push(now);
      while (errorsAt.length && now - errorsAt[0]! >= MINUTE) errorsAt.shift();
      if (errorsAt.length >= (opts.blockAfterErrors ?? 20)) blockedUntil = now + (opts.blockMs ?? 10 * MINUTE);
    }
    answer(res, fmt, { error: ERRORS[code] ?? 'error', error_code: code, ...(id !== undefined && [3, 6, 7, 8].includes(code) ? { id } : {}) });
  }

  const date = (ms: number) => {
    const d = new Date(ms);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${p(d.getUTCDate())}.${p(d.getUTCMonth() + 1)}.${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  };
  const statusOf = (m: FakeSmscMessage | undefined) =>
    m ? { status: m.status, last_date: date(m.at), last_timestamp: Math.floor(m.at / 1000), flag: 0, err: m.err } : { status: -3, last_date: '', last_timestamp: 0, flag: 0, err: 0 };

  const validId = (id: string) => (/^\d+$/.test(id) ? Number(id) >= 1 && Number(id) <= 2147483647 : /^[A-Za-z0-9._-]{1,40}$/.test(id));

  async function onSend(res: http.ServerResponse, p: Record<string, string>, login: string) {
    const fmt = p.fmt ?? '0';
    const id = p.id ?? '';
    const mes = p.charset === 'utf-8' ? (p.mes ?? '') : Buffer.from(p.mes ?? '', 'utf8').toString('latin1'); // read as windows-1251
    const phones = (p.phones ?? '').split(/[,;]/).map((x) => x.trim()).filter(Boolean);
    if (!phones.length || !mes || mes.length > 1_000 || (p.id !== undefined && !validId(id))) return fail(res, fmt, 1);
    // `time`: DDMMYYhhmm, h1-h2, 0ts (unix), +m (minutes from now); anything else is error 5.
    if (p.time !== undefined && !/^(\d{10}|\d{1,2}-\d{1,2}|0\d+|\+\d+|\d{2}\.\d{2}\.\d{2,4} \d{1,2}:\d{2})$/.test(p.time)) return fail(res, fmt, 5);
    const now = clock();
    const sender = p.sender || undefined;
    const sig = JSON.stringify([login, phones.map((x) => x.replace(/^\+/, '')).sort(), mes, sender ?? '']);
    while (recentSends.length && now - recentSends[0]!.at >= MINUTE) recentSends.shift();
    if (recentSends.some((r) => r.sig === sig)) return fail(res, fmt, 9);
    const numbers = phones.map((x) => x.replace(/^\+/, ''));
    if (numbers.some((n) => !/^\d{10,15}$/.test(n) || invalid.has(n))) return fail(res, fmt, 7, id);
    if (numbers.some((n) => refused.has(n))) return fail(res, fmt, 8, id);
    const account = accounts.get(login)!;
    if ((sender && account.senders && !account.senders.includes(sender)) || (opts.forbiddenWords ?? []).some((w) => mes.includes(w))) return fail(res, fmt, 6, id);
    const cnt = segmentsOf(mes).segments * numbers.length;
    const cost = cnt * price;
    if (p.cost !== '1' && account.balance < cost) return fail(res, fmt, 3, id);
    if (p.cost === '1') return answer(res, fmt, { cost: cost.toFixed(2), cnt });

    const fate = fates.shift() ?? 'ok';
    if (fate === 'loseBeforeStore') return void hung.push(res);
    recentSends.push({ sig, at: now });
    account.balance -= cost;
    const smscId = id || String(100_000 + messages.size);
    for (const phone of numbers) {
      // With the same id and number the last one wins (SMSC's words).
      messages.set(key(login, phone, smscId), { login, id: smscId, phone, mes, sender, charset: p.charset ?? 'windows-1251', cnt: cnt / numbers.length, status: -1, err: 0, at: now });
    }
    if (fate === 'storeThenHang') return void hung.push(res);
    if (fate === 'storeThenDrop') return void res.destroy();
    if (fate === 'storeThen500') return void res.writeHead(500, { 'content-type': 'text/html' }).end('Internal Server Error');
    if (hold) await hold;
    const extra = p.cost === '2' ? { cost: cost.toFixed(2) } : p.cost === '3' ? { cost: cost.toFixed(2), balance: account.balance.toFixed(2) } : {};
    answer(res, fmt, { id: /^\d+$/.test(smscId) ? Number(smscId) : smscId, cnt, ...extra });
  }

  function onStatus(res: http.ServerResponse, p: Record<string, string>, login: string) {
    const fmt = p.fmt ?? '0';
    const now = clock();
    const multi = (p.phone ?? '').includes(',') || (p.id ?? '').includes(',');
    const phones = (p.phone ?? '').split(',').map((x) => x.trim().replace(/^\+/, ''));
    const ids = (p.id ?? '').split(',').map((x) => x.trim());
    if (multi) {
      // A trailing comma keeps the multi form for one message.
      if (phones[phones.length - 1] === '') phones.pop();
      if (ids[ids.length - 1] === '') ids.pop();
    }
    if (!phones.length || phones.length !== ids.length || phones.some((x) => !x) || ids.some((x) => !x)) return fail(res, fmt, 1);
    const refusal = ids.map((id) => statusRefusals.get(id)).find((code) => code !== undefined);
    if (refusal !== undefined) return fail(res, fmt, refusal);
    if (multi) {
      if (now - (massAt.get(login) ?? -Infinity) < MINUTE) return fail(res, fmt, 9);
    }
    if (ids.some((id, i) => recent(perMessage.get(key(login, phones[i]!, id)) ?? [], now).length >= 5)) return fail(res, fmt, 9);
    if (multi) {
      massAt.set(login, now);
      stats.massStatusRequests++;
      stats.massIdsMax = Math.max(stats.massIdsMax, ids.length);
    } else {
      stats.singleStatusRequests++;
    }
    ids.forEach((id, i) => stamp(perMessage, key(login, phones[i]!, id), now));
    if (!multi) {
      const m = messages.get(key(login, phones[0]!, ids[0]!));
      // Not counted towards blocking the address: SMSC does not say whether it counts this one.
      if (!m) return answer(res, fmt, { error: 'message not found', error_code: 3 });
      return answer(res, fmt, statusOf(m));
    }
    answer(res, fmt, ids.map((id, i) => ({ ...(multiWithIds ? { id, phone: phones[i] } : {}), ...statusOf(messages.get(key(login, phones[i]!, id))) })));
  }

  function onBalance(res: http.ServerResponse, p: Record<string, string>, login: string) {
    const now = clock();
    if (recent(balanceAt.get(login) ?? [], now).length >= 10) return fail(res, p.fmt ?? '0', 9);
    stamp(balanceAt, login, now);
    answer(res, p.fmt ?? '0', { balance: accounts.get(login)!.balance.toFixed(2) });
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const p = { ...Object.fromEntries(url.searchParams), ...Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) };
    const cmd = /^\/sys\/(send|status|balance)\.php$/.exec(url.pathname)?.[1];
    if (!cmd) {
      res.writeHead(404, { 'content-type': 'text/html' });
      return void res.end('<html>404 Not Found</html>');
    }
    requests.push({ cmd, params: { ...p, ...(p.psw !== undefined ? { psw: '***' } : {}) } });
    stats[`${cmd as 'send' | 'status' | 'balance'}Requests`]++;
    const fmt = p.fmt ?? '0';
    const login = p.login ?? '';
    const counts = inFlight.get(login) ?? { all: 0, status: 0 };
    inFlight.set(login, counts);
    counts.all++;
    if (cmd === 'status') counts.status++;
    stats.inFlightMax = Math.max(stats.inFlightMax, counts.all);
    stats.statusInFlightMax = Math.max(stats.statusInFlightMax, counts.status);
    res.on('close', () => {
      counts.all--;
      if (cmd === 'status') counts.status--;
    });
    if (clock() < blockedUntil) return fail(res, fmt, 4);
    const account = accounts.get(login);
    if (!account || account.password !== p.psw) return fail(res, fmt, 2);
    if (counts.all >= 15 || (cmd === 'status' && counts.status >= 5)) return fail(res, fmt, 9);
    if (cmd === 'send') return onSend(res, p, login);
    if (cmd === 'status') return onStatus(res, p, login);
    return onBalance(res, p, login);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    invalid,
    refused,
    undeliverable,
    unavailable,
    stats,
    requests,
    accounts,
    /** The message SMSC holds for our id (any number, any login). */
    byId: (id: string | number) => [...messages.values()].filter((m) => m.id === String(id)),
    /** The next `n` sends meet `fate` (then they are answered again). */
    nextSends(fate: SmscSendFate, n = 1) {
      for (let i = 0; i < n; i++) fates.push(fate);
    },
    /** Cuts the connections of sends left without an answer (a lost answer, as the client sees it). */
    dropHung() {
      for (const res of hung.splice(0)) res.destroy();
    },
    /** Holds every answer to send.php (after the message is stored) until `release()`: requests pile up in flight. */
    holdSends() {
      hold = new Promise<void>((r) => (releaseHold = r));
    },
    release() {
      releaseHold?.();
      hold = undefined;
    },
    /** How many requests of `login` are in flight now. */
    inFlight: (login: string) => inFlight.get(login)?.all ?? 0,
    setStatus(id: string | number, status: number, err = 0) {
      for (const m of messages.values()) if (m.id === String(id)) Object.assign(m, { status, err, at: clock() });
    },
    /** The operators answer: delivered (1), or 20/err 1 for `undeliverable` numbers, 25/err 248 for `unavailable`. */
    settle(): FakeSmscMessage[] {
      const changed: FakeSmscMessage[] = [];
      for (const m of messages.values()) {
        if (m.status > 0 || m.status === -2) continue;
        const [status, err] = undeliverable.has(m.phone) ? [20, 1] : unavailable.has(m.phone) ? [25, 248] : [1, 0];
        Object.assign(m, { status, err, at: clock() });
        changed.push(m);
      }
      return changed;
    },
    /** Multi-form status answers without `id`/`phone` in their entries (in the order asked). */
    statusEntriesWithoutIds() {
      multiWithIds = false;
    },
    /** Status requests naming our id `id` are answered with error `code` (undefined: answered again). */
    refuseStatusOf(id: string | number, code: number | undefined) {
      if (code === undefined) statusRefusals.delete(String(id));
      else statusRefusals.set(String(id), code);
    },
    /** Blocks this address (error 4) for `ms`. */
    block(ms: number) {
      blockedUntil = clock() + ms;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const res of hung.splice(0)) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type FakeSmscRu = Awaited<ReturnType<typeof startFakeSmscRu>>;
