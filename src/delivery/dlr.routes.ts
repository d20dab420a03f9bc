import express, { Router } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Crypto } from '../platform/crypto.js';
import { safeEqual } from '../platform/crypto.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { kannelDlr } from '../gateways/kannel.codes.js';
import { rawAnswers } from '../web/raw-http.js';
import { smsruStatus } from '../gateways/smsru.codes.js';
import { sandboxReport } from '../gateways/sandbox.js';
import type { GatewayStatus } from '../gateways/gateway.js';
import type { QueueRepo } from './queue-repo.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import type { PortalRepo } from '../portals/portal-repo.js';
import { applyGatewayStatus } from './gateway-status.js';
import { DLR_TOKEN_V, dlrMessageToken, dlrToken } from './dlr-url.js';
import { INT_ID_MAX, rowId } from '../platform/ids.js';

const forged = () => new AppError('unauthorized', 401, 'unknown or forged delivery report');

type DlrDeps = { queue: QueueRepo; settings: SettingsRepo; portals: PortalRepo; crypto: Crypto; clock: Clock; log: Log; onSettled?: () => void };

/**
 * A report that names one of our messages in its URL (Kannel's dlr-url, the sandbox's): the portal's secret, the
 * message of that portal that this gateway took, the status read by `read`, applied. A message being sent has no
 * gateway yet (it is written once the gateway answers, and a report can come first): it is taken while the portal's
 * gateway is this kind. Any other message, sent elsewhere or never sent, is not this gateway's to settle: the
 * portal's secret is known to its Kannel's operator (also to one it used before) and sits in the callback URL
 * registered at SMS.ru, so it must not settle the portal's other messages too.
 * Resolves when it is applied (or ignored after an uninstall); throws the AppError to answer otherwise.
 */
function perMessageReports(deps: DlrDeps) {
  return async function apply(kind: string, at: { portalId: string; token: string; messageId: string }, status: GatewayStatus | undefined, why: () => string, gateway: string) {
    const portalId = rowId(at.portalId, INT_ID_MAX);
    const id = rowId(at.messageId);
    if (portalId === undefined) throw forged();
    // The message's own secret, or (for a message sent before those, whose URL had it) the portal's.
    const own = id !== undefined && safeEqual(at.token, dlrMessageToken(deps.crypto, portalId, id));
    if (!own && !safeEqual(at.token, dlrToken(deps.crypto, portalId))) throw forged();
    if (await uninstalled(deps, portalId)) return;
    const m = id === undefined ? undefined : await deps.queue.ownerOf(id);
    // Another portal's message is answered as a missing one: a portal's secret tells nothing of other portals' ids.
    if (!m || Number(m.portal_id) !== portalId) throw new AppError('not_found', 404, 'no such message');
    // The portal's secret settles only a message an earlier version sent with it: one sent with its own, or one not
    // sent yet (claimed, no gateway: its URL is not out), takes nothing else.
    if (!own && (m.dlr_token_v === DLR_TOKEN_V || m.gateway === null)) throw forged();
    const tookIt = m.gateway === gateway || (m.gateway === null && m.state === 'sending' && (await deps.settings.kindOf(portalId)) === gateway);
    if (!tookIt) throw new AppError('not_found', 404, 'no such message');
    if (!status) throw new AppError('invalid_request', 400, why());
    const changed = await applyGatewayStatus(deps.queue, m.id, status, deps.clock());
    if (changed && status.state !== 'sent') deps.onSettled?.();
    deps.log.info({ messageId: m.id, code: status.code, state: status.state, changed }, `dlr.${kind}`);
  };
}

function portalFrom(deps: DlrDeps, portalParam: string, token: string): number {
  const portalId = rowId(portalParam, INT_ID_MAX);
  if (portalId === undefined || !safeEqual(token, dlrToken(deps.crypto, portalId))) throw forged();
  return portalId;
}

// Reports that arrive after an uninstall change nothing: with CLEAN the message's traces were erased, and the
// gateway's reply text would bring them back. They are answered as taken, so the gateway does not retry.
const uninstalled = async (deps: DlrDeps, portalId: number) => (await deps.portals.findByIdCached(portalId))?.status === 'uninstalled';

const KANNEL_DLR = /^\/dlr\/kannel\/([^/?]+)\/([^/?]+)\/([^/?]+)\/?(?:\?|$)/i;

/** Any method on `/dlr/kannel/…`: what kannelDlrHandler answers; everything else goes to the express app. */
export const isKannelDlrRequest = (req: IncomingMessage) => KANNEL_DLR.test(req.url!);

/**
 * Kannel's delivery reports, two or more per message (gateways.md §2): on node's own request, like /handler, since
 * through express (routing, request decoration, query parsing) they took a third of the web process's time end to
 * end. Same answers as every route's: `ok`, or the JSON error.
 */
export function kannelDlrHandler(deps: DlrDeps & { headers: Array<[string, string]> }) {
  const answer = rawAnswers(deps.headers, deps.log);
  const apply = perMessageReports(deps);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new AppError('invalid_request', 400, 'the report URL is not valid');
    }
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url!;
    const [, portalId, token, messageId] = KANNEL_DLR.exec(url)!;
    const q = url.indexOf('?');
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const one = (k: string) => {
      const all = query.getAll(k);
      return all.length === 1 ? all[0] : undefined; // given twice counts as not given, as express's parser had it
    };
    const type = one('type');
    req.resume(); // a body, if any, is not read
    Promise.resolve()
      .then(() => apply('kannel', { portalId: decode(portalId!), token: decode(token!), messageId: decode(messageId!) },
        kannelDlr(Number(type), one('reply')), () => (type === undefined ? 'the report has no DLR type (type=%d, once)' : `unknown DLR type ${type}`), 'kannel'))
      .then(() => answer.text(res, 200, 'ok'), (err) => answer.error(res, err, '/dlr/kannel'));
  };
}

/** Delivery reports from gateways: authenticated by the per-portal secret in the URL, applied at once. */
export function dlrRoutes(deps: DlrDeps) {
  const router = Router();
  const apply = perMessageReports(deps);

  // The sandbox gateway's reports (gateways/sandbox.ts): this service posts them to itself, the way a push gateway
  // would. Only a message the sandbox took: a real gateway's message is settled by that gateway alone.
  router.post('/dlr/sandbox/:portalId/:token/:messageId', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const p = req.params as Record<string, string>;
    await apply('sandbox', { portalId: String(p.portalId), token: String(p.token), messageId: String(p.messageId) }, sandboxReport(String(req.body?.status ?? '')), () => 'unknown sandbox status', 'sandbox');
    res.type('text').send('ok');
  });

  // SMS.ru posts data[0..n] records and hash = sha256(api_id + data[0] + data[1] + …) (gateways.md §1). Signed with
  // the portal's SMS.ru key, or with one it switched away from (its messages' callbacks keep coming, to the URL
  // registered on that account): the records then settle only the messages that account took.
  router.post('/dlr/smsru/:portalId/:token', express.urlencoded({ extended: true, limit: '1mb' }), async (req, res) => {
    const portalId = portalFrom(deps, String(req.params.portalId), String(req.params.token));
    if (await uninstalled(deps, portalId)) return void res.type('text').send('100');
    const s = await deps.settings.get(portalId);
    const data: string[] = Array.isArray(req.body?.data) ? req.body.data.map(String) : Object.values((req.body?.data ?? {}) as Record<string, string>).map(String);
    const signedWith = (apiKey: string) => safeEqual(String(req.body?.hash ?? '').toLowerCase(), createHash('sha256').update(apiKey + data.join('')).digest('hex'));
    let account: { key?: string } | undefined;
    if (s?.gateway === 'smsru' && signedWith(s.credentials.api_key ?? '')) account = {}; // the current key: its messages, and those from before accounts were recorded
    else account = (await deps.settings.retired(portalId, 'smsru')).find((r) => signedWith(r.credentials.api_key ?? ''));
    if (!account) throw forged();
    let settled = false;
    for (const record of data) {
      const [kind, id, code] = record.split('\n');
      if (kind !== 'sms_status' || !id) continue; // heartbeats ("test") and call checks are ignored
      const status = smsruStatus(Number(code));
      const m = status && (await deps.queue.byGatewayId(portalId, id, 'smsru'));
      if (!m || !status) continue;
      if (account.key !== undefined && m.gateway_account !== account.key) continue; // another account's message
      if ((await applyGatewayStatus(deps.queue, m.id, status, deps.clock())) && status.state !== 'sent') settled = true;
    }
    if (settled) deps.onSettled?.();
    res.type('text').send('100'); // anything else makes SMS.ru retry the whole callback later
  });

  return router;
}
