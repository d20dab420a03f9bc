import { createHash } from 'node:crypto';
import { listen, readBody, send } from './http-util.js';

/**
 * A fake SMS.ru built from ../shared/reference/gateways.md §1: sms/send (per-number results), sms/status
 * (many ids), my/balance, auth/check, callback/add|get, and delivery callbacks with the sha256 hash.
 */
export interface FakeSmsRuMessage {
  id: string;
  apiKey: string;
  to: string;
  msg: string;
  from?: string;
  status: number;
}

/**
 * `waf403`: something in front of SMS.ru (a firewall, a proxy) refuses the request with a page of its own.
 * `storeThen500`: SMS.ru takes the messages of the next send, then its web server answers HTTP 500 (once).
 */
export type SmsRuMode = 'ok' | 'http503' | 'error220' | 'hang' | 'waf403' | 'waf200' | 'storeThen500';

export async function startFakeSmsRu(opts: { keys?: Record<string, number>; acceptAnyKey?: boolean } = {}) {
  const balances = new Map<string, number>(Object.entries(opts.keys ?? {}));
  const messages = new Map<string, FakeSmsRuMessage>();
  const callbacks = new Map<string, string[]>();
  const invalid = new Set<string>(); // numbers answered with per-number code 202
  const undeliverable = new Set<string>(); // numbers whose final status is 107
  const hung: Array<{ drop: () => void; answer: () => void }> = [];
  let seq = 0;
  let mode: SmsRuMode = 'ok';
  let sendDelayMs = 0; // the operator's own latency on sms/send
  const stats = { sendRequests: 0, sendBatchMax: 0, sendsInFlight: 0, sendsInFlightMax: 0, statusRequests: 0, statusIdsMax: 0 };

  const keyOk = (k: string) => balances.has(k) || (opts.acceptAnyKey === true && k !== '' && !k.startsWith('bad'));
  const authError = { status: 'ERROR', status_code: 200, status_text: 'Неправильный api_id' };

  const srv = await listen(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const { fields } = await readBody(req);
    const p = { ...Object.fromEntries(url.searchParams), ...fields } as Record<string, string>;
    const key = String(p.api_id ?? '');
    if (mode === 'http503') return send(res, 503, 'Service Unavailable');
    if (mode === 'waf403') return send(res, 403, '<html><body><h1>403 Forbidden</h1></body></html>');
    // A DDoS filter's browser check in front of the API: a page, HTTP 200, and the request goes no further.
    if (mode === 'waf200') return send(res, 200, '<!DOCTYPE html><html><body>Checking your browser before accessing sms.ru…</body></html>');
    switch (url.pathname) {
      case '/sms/send': {
        stats.sendRequests++;
        if (!keyOk(key)) return send(res, 200, authError);
        if (mode === 'error220') return send(res, 200, { status: 'ERROR', status_code: 220, status_text: 'Сервис временно недоступен' });
        // `to=<numbers>&msg=<text>`, or one text per number: `to[<number>]=<text>` (at most 100 numbers either way).
        const perNumber = typeof p.to === 'object' && p.to !== null ? Object.entries(p.to as Record<string, string>) : undefined;
        const recipients: Array<[string, string]> = perNumber ?? String(p.to ?? '').split(',').map((to) => [to, String(p.msg ?? '')]);
        if (recipients.length > 100) return send(res, 200, { status: 'ERROR', status_code: 202, status_text: 'Слишком много получателей (fake: more than 100)' });
        stats.sendBatchMax = Math.max(stats.sendBatchMax, recipients.length);
        const sms: Record<string, unknown> = {};
        for (const [to, msg] of recipients) {
          if (invalid.has(to)) sms[to] = { status: 'ERROR', status_code: 202, status_text: 'Неправильно указан номер телефона получателя' };
          else {
            const id = `202626-${String(1_000_000 + ++seq)}`;
            messages.set(id, { id, apiKey: key, to, msg, from: p.from, status: 100 });
            sms[to] = { status: 'OK', status_code: 100, sms_id: id };
          }
        }
        // 'hang': the request reached SMS.ru (the message exists) but the reply never comes back.
        const answer = () => send(res, 200, { status: 'OK', status_code: 100, sms, balance: balances.get(key) ?? 100 });
        if (mode === 'hang') return void hung.push({ drop: () => res.destroy(), answer });
        if (mode === 'storeThen500') {
          mode = 'ok';
          return send(res, 500, 'Internal Server Error');
        }
        if (sendDelayMs) {
          // taken, the answer still on its way
          stats.sendsInFlightMax = Math.max(stats.sendsInFlightMax, ++stats.sendsInFlight);
          await new Promise((r) => setTimeout(r, sendDelayMs));
          stats.sendsInFlight--;
        }
        return answer();
      }
      case '/sms/status': {
        stats.statusRequests++;
        if (!keyOk(key)) return send(res, 200, authError);
        const ids = String(p.sms_id ?? '').split(',').filter(Boolean);
        stats.statusIdsMax = Math.max(stats.statusIdsMax, ids.length);
        if (ids.length > 100) return send(res, 200, { status: 'ERROR', status_code: 213, status_text: 'Слишком много идентификаторов' });
        const sms: Record<string, unknown> = {};
        for (const id of ids) {
          const m = messages.get(id);
          sms[id] = m && m.apiKey === key
            ? { status: 'OK', status_code: m.status, cost: '0.50', status_text: m.status === 103 ? 'Сообщение доставлено' : 'status' }
            : { status: 'ERROR', status_code: -1, status_text: 'Сообщение не найдено' };
        }
        return send(res, 200, { status: 'OK', status_code: 100, sms });
      }
      case '/my/balance':
      case '/auth/check':
        if (!keyOk(key)) return send(res, 200, authError);
        return send(res, 200, { status: 'OK', status_code: 100, balance: balances.get(key) ?? 100 });
      case '/callback/add':
        if (!keyOk(key)) return send(res, 200, authError);
        callbacks.set(key, [...(callbacks.get(key) ?? []), String(p.url)]);
        return send(res, 200, { status: 'OK', status_code: 100, callback: callbacks.get(key) });
      case '/callback/get':
        if (!keyOk(key)) return send(res, 200, authError);
        return send(res, 200, { status: 'OK', status_code: 100, callback: callbacks.get(key) ?? [] });
      default:
        return send(res, 200, { status: 'ERROR', status_code: 211, status_text: 'Метод не найден' });
    }
  });

  /** Posts delivery callbacks (data[N] records + hash) for the given messages to every URL of their account. */
  async function postCallbacks(ms: FakeSmsRuMessage[], opts2: { forgeHash?: boolean } = {}) {
    const byKey = new Map<string, FakeSmsRuMessage[]>();
    for (const m of ms) byKey.set(m.apiKey, [...(byKey.get(m.apiKey) ?? []), m]);
    const ts = Math.floor(Date.now() / 1000);
    for (const [key, list] of byKey) {
      const data = [`test\n${ts}`, ...list.map((m) => `sms_status\n${m.id}\n${m.status}\n${ts}`)];
      const hash = createHash('sha256').update((opts2.forgeHash ? 'wrong' : key) + data.join('')).digest('hex');
      const body = new URLSearchParams(data.map((d, i) => [`data[${i}]`, d]));
      body.set('hash', hash);
      for (const url of callbacks.get(key) ?? []) {
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() });
        await r.text();
      }
    }
  }

  return {
    url: `http://127.0.0.1:${srv.port}`,
    messages,
    callbacks,
    invalid,
    undeliverable,
    stats,
    setMode(m: SmsRuMode) {
      mode = m;
    },
    /** sms/send answers this long after it took the messages (a sender that dies meanwhile never hears the ids). */
    setSendDelay(ms: number) {
      sendDelayMs = ms;
    },
    /** Replies never sent in 'hang' mode are dropped (as a lost connection). */
    dropHung() {
      for (const h of hung.splice(0)) h.drop();
    },
    /** Replies held in 'hang' mode go out after all (a slow operator); later requests are answered at once. */
    releaseHung() {
      mode = 'ok';
      for (const h of hung.splice(0)) h.answer();
    },
    /** The operator answers: every message gets its final status (103, or 107 for undeliverable numbers). */
    settle(): FakeSmsRuMessage[] {
      const changed: FakeSmsRuMessage[] = [];
      for (const m of messages.values()) {
        if (m.status >= 103) continue;
        m.status = undeliverable.has(m.to) ? 107 : 103;
        changed.push(m);
      }
      return changed;
    },
    postCallbacks,
    close: srv.close,
  };
}

export type FakeSmsRu = Awaited<ReturnType<typeof startFakeSmsRu>>;
