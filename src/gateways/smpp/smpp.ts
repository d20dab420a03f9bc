import type { Log } from '../../platform/logger.js';
import { GATEWAY_ADDRESS_FORBIDDEN } from '../../platform/address-guard.js';
import { ADDRESS_FORBIDDEN_REASON, unknownOutcome, type CredentialCheck, type Gateway, type GatewayStatus, type OutgoingSms, type SendOutcome } from '../gateway.js';
import { MAX_SEGMENTS } from '../segments.js';
import { BIND_REFUSED_CREDENTIALS, SMPP_COMMAND_STATUS, statusName, submitStatus } from './codes.js';
import { destinationAddress, encodeText, sourceAddress } from './codec.js';
import { parseSmppUrl } from './connect.js';
import type { LateOutcome, SmppAccountSettings, SmppPool } from './pool.js';
import type { Answer, SubmitResult } from './session.js';

export const SMPP_DEFAULTS = { tps: 50, window: 10 };

const ESME_RINVSYSID = 0x0f;

/** A portal's stored credentials (gateway-form.ts writes them) as the pool's account settings; undefined if unusable. */
export function smppSettings(c: Record<string, string>): SmppAccountSettings | undefined {
  const endpoint = parseSmppUrl(c.url ?? '');
  if (!endpoint || !c.system_id) return undefined;
  const int = (v: string | undefined, fallback: number) => (v && /^\d+$/.test(v) ? Number(v) : fallback);
  return {
    endpoint,
    credentials: { systemId: c.system_id, password: c.password ?? '', systemType: c.system_type ?? '' },
    tps: int(c.tps, SMPP_DEFAULTS.tps),
    window: int(c.window, SMPP_DEFAULTS.window),
  };
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * An SMPP 3.4 account (gateways.md §6) through the process's session pool (pool.ts): one submit_sm per part with
 * registered_delivery=1; the message is sent when every part was accepted, and its gateway id is the first part's.
 * Every accepted part's id is also kept (the pool hands it to the delivery side), so a receipt finds its message
 * whichever part it names: the first part's receipt settles the message, the other parts' are absorbed.
 *
 * Receipts arrive over the binds, not through fetchStatuses: that only keeps the account bound while messages wait
 * for them (the statuses job calls it every minute for accounts with messages `sent`).
 */
export function createSmppGateway(opts: {
  pool: SmppPool;
  credentials: Record<string, string>;
  /** The portal whose account this is; undefined for a credential check before the portal's settings exist. */
  portalId?: number;
  /** The portal whose form typed the address, known also before it is saved: its name lookups wait on its own slot. */
  owner?: number;
  timeoutMs: number;
  log?: Log;
}): Gateway {
  const settings = smppSettings(opts.credentials);
  const ton = opts.credentials.source_ton ? Number(opts.credentials.source_ton) : undefined;
  const npi = opts.credentials.source_npi ? Number(opts.credentials.source_npi) : undefined;
  const where = settings ? `${settings.endpoint.host}:${settings.endpoint.port}` : '';

  function account() {
    if (!settings || opts.portalId === undefined) throw new Error('an SMPP account needs its settings and portal');
    return opts.pool.account(opts.portalId, settings);
  }

  /** A refusal or a failure to send, as the outcome of the whole message when nothing of it was accepted yet. */
  function firstPartOutcome(r: Exclude<SubmitResult, { kind: 'lost' }> | { kind: 'not_sent'; code: string; status?: number }): SendOutcome {
    if (r.kind === 'answered') {
      const s = submitStatus(r.status);
      if (s.kind === 'permanent') return { kind: 'permanent', code: s.name, text: s.text };
      return { kind: 'retryable', code: s.name, text: s.text, throttled: s.kind === 'slowDown' };
    }
    const status = 'status' in r ? r.status : undefined;
    if (status !== undefined && BIND_REFUSED_CREDENTIALS.has(status)) return { kind: 'permanent', code: statusName(status), text: SMPP_COMMAND_STATUS[status]!.text };
    if (r.code === GATEWAY_ADDRESS_FORBIDDEN) return { kind: 'permanent', code: r.code, text: ADDRESS_FORBIDDEN_REASON };
    if (status !== undefined) return { kind: 'retryable', code: statusName(status), text: `the SMS centre refused the connection (${statusName(status)})` };
    if (r.code === 'SMPP_WINDOW_FULL' || r.code === 'SMPP_PACE') return { kind: 'retryable', code: r.code, text: 'the SMS centre account is busy (window full or sending at its pace)' };
    return { kind: 'retryable', code: r.code, text: 'the SMS centre could not be reached' };
  }

  function lostOutcome(code: string, part: number, parts: number): SendOutcome {
    const which = parts > 1 ? ` (part ${part + 1} of ${parts})` : '';
    return code === 'SMPP_TIMEOUT'
      ? unknownOutcome(code, `no answer from the SMS centre within ${seconds(opts.timeoutMs)}${which}`)
      : unknownOutcome(code, `the connection to the SMS centre ended before it answered${which}`);
  }

  async function send(sms: OutgoingSms): Promise<SendOutcome> {
    if (!settings) return { kind: 'permanent', code: 'SMPP_SETTINGS', text: 'the SMPP settings are incomplete: save them again on the settings page' };
    const acc = account();
    const text = encodeText(sms.text, acc.nextReference());
    const src = sourceAddress(sms.sender, { ton, npi });
    const dst = destinationAddress(sms.to);
    const total = text.parts.length;
    const ids: string[] = [];
    let lostAt = -1;

    /** The answer to the part that was lost, come late: settles the unknown outcome (the pool hands it on). */
    const late = (part: number) => (a: Answer): LateOutcome | undefined => {
      if (part !== lostAt) return undefined;
      const s = submitStatus(a.status);
      if (s.kind === 'slowDown') acc.slowDown();
      if (s.kind !== 'accepted') {
        // The first part refused "not now": nothing of the message was taken, so it may be sent again, as when the
        // refusal comes in time. Once a part was taken, a refusal of a later one still ends it incomplete.
        const again = part === 0 && (s.kind === 'retryable' || s.kind === 'slowDown');
        return { accepted: false, code: s.name, text: total > 1 ? `part ${part + 1} of ${total}: ${s.text}` : s.text, ...(again ? { retry: true } : {}) };
      }
      ids[part] = a.messageId;
      if (part === total - 1 && ids[0]) return { accepted: true as const, firstId: ids[0] };
      return { accepted: false as const, code: 'SMPP_INCOMPLETE', text: `only ${part + 1} of ${total} parts were sent: the SMS centre answered too late` };
    };

    for (let i = 0; i < total; i++) {
      const params = {
        service_type: '',
        source_addr_ton: src.ton, source_addr_npi: src.npi, source_addr: src.addr,
        dest_addr_ton: dst.ton, dest_addr_npi: dst.npi, destination_addr: dst.addr,
        esm_class: text.esmClass, protocol_id: 0, priority_flag: 0,
        registered_delivery: 1, replace_if_present_flag: 0, data_coding: text.dataCoding, sm_default_msg_id: 0,
        short_message: text.parts[i],
      };
      // Once a part is accepted the message is on its way: later parts try harder (a pause, the pace, a reconnect)
      // before the message is given up as incomplete.
      const started = Date.now();
      const budget = i === 0 ? opts.timeoutMs : 3 * opts.timeoutMs;
      for (;;) {
        const left = Math.max(0, started + budget - Date.now());
        const r = await acc.submit(params, { messageId: sms.id, part: i, parts: total }, { waitMs: i === 0 ? opts.timeoutMs : left, onLate: late(i) });
        if (r.kind === 'lost') {
          lostAt = i;
          opts.log?.warn({ gateway: 'smpp', messageId: sms.id, code: r.code, part: i + 1, parts: total }, 'gateway.smpp.lost');
          return lostOutcome(r.code, i, total);
        }
        if (r.kind === 'answered') {
          const s = submitStatus(r.status);
          if (s.kind === 'accepted') {
            ids[i] = r.messageId;
            break;
          }
          if (s.kind === 'slowDown') acc.slowDown();
          if (i === 0) return firstPartOutcome(r);
          if (s.kind === 'permanent' || Date.now() - started >= budget) return partial(i, total, s.name, s.text);
          // A passing fault at the centre: tried again after a pause, as when it did not answer (not at full pace).
          await new Promise((res) => setTimeout(res, Math.min(1_000, Math.max(0, started + budget - Date.now()))));
        } else {
          if (i === 0) return firstPartOutcome(r);
          const refused = firstPartOutcome(r);
          if (refused.kind === 'permanent' || Date.now() - started >= budget) return partial(i, total, refused.code, refused.text);
          await new Promise((res) => setTimeout(res, Math.min(1_000, left)));
        }
      }
    }
    if (!ids[0]) opts.log?.warn({ gateway: 'smpp', messageId: sms.id }, 'gateway.smpp.no_message_id');
    return { kind: 'accepted', gatewayMessageId: ids[0] || undefined, code: 'ESME_ROK', text: total > 1 ? `accepted by the SMS centre (${total} parts)` : 'accepted by the SMS centre' };
  }

  const partial = (i: number, total: number, code: string, text: string): SendOutcome => ({
    kind: 'permanent', code, text: `part ${i + 1} of ${total} was not sent: ${text} (the first ${i} ${i === 1 ? 'part was' : 'parts were'} sent)`,
  });

  /** Bind, then unbind. A refusal names the field it is about; the page words it in its language by `code`. */
  async function checkCredentials(): Promise<CredentialCheck> {
    if (!settings) return { ok: false, reason: 'The SMS centre address is not valid', about: 'address' };
    const r = await opts.pool.check(settings, opts.owner ?? opts.portalId);
    if (r.ok) return { ok: true };
    if (r.code === GATEWAY_ADDRESS_FORBIDDEN) return { ok: false, reason: capitalise(ADDRESS_FORBIDDEN_REASON), addressRefused: true, about: 'address' };
    if (r.status !== undefined) {
      const name = statusName(r.status);
      const known = SMPP_COMMAND_STATUS[r.status];
      const credentials = BIND_REFUSED_CREDENTIALS.has(r.status);
      return {
        ok: false, code: name, retryable: !credentials, about: r.status === ESME_RINVSYSID ? 'login' : 'secret',
        reason: credentials ? capitalise(known!.text) : `The SMS centre refused the bind (${name}): check the system id and password, or whether the account allows another connection`,
      };
    }
    opts.log?.warn({ gateway: 'smpp', error: r.code }, 'gateway.check.unreachable');
    return { ok: false, code: 'unreachable', retryable: true, about: 'address', reason: `The SMS centre could not be reached at ${where}` };
  }

  /**
   * Starts a bind where none is open and does not wait for it: the statuses job polls portals one after another, and
   * a centre that takes its time to answer a bind would hold every other portal's polling up. A bind still opening is
   * no failure; one the centre refused (or could not be reached for) is, named by its code.
   */
  async function fetchStatuses(): Promise<Map<string, GatewayStatus>> {
    const notBound = await account().keepBound(0);
    if (notBound && notBound.code !== 'SMPP_NOT_BOUND') throw Object.assign(new Error('the SMS centre is not bound'), { code: notBound.code });
    return new Map();
  }

  return {
    name: 'smpp',
    send,
    checkCredentials,
    hasBalance: false,
    maxSegments: MAX_SEGMENTS,
    ...(opts.portalId !== undefined && settings ? { fetchStatuses, statusBatchSize: 100_000 } : {}),
    resolvesUnknownOutcome: true,
  };
}
