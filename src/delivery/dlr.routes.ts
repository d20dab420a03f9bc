import express, { Router, type Request, type Response } from 'express';
import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import type { Crypto } from '../platform/crypto.js';
import { safeEqual } from '../platform/crypto.js';
import type { Log } from '../platform/logger.js';
import { AppError } from '../platform/errors.js';
import { kannelDlr } from '../gateways/kannel.codes.js';
import { smsruStatus } from '../gateways/smsru.codes.js';
import { sandboxReport } from '../gateways/sandbox.js';
import type { GatewayStatus } from '../gateways/gateway.js';
import type { QueueRepo } from './queue-repo.js';
import type { SettingsRepo } from '../portals/settings-repo.js';
import type { PortalRepo } from '../portals/portal-repo.js';
import { applyGatewayStatus } from './gateway-status.js';
import { dlrToken } from './dlr-url.js';

const forged = () => new AppError('unauthorized', 401, 'unknown or forged delivery report');

/** Delivery reports from gateways: authenticated by the per-portal secret in the URL, applied at once. */
export function dlrRoutes(deps: { queue: QueueRepo; settings: SettingsRepo; portals: PortalRepo; crypto: Crypto; clock: Clock; log: Log; onSettled?: () => void }) {
  const router = Router();

  // Reports that arrive after an uninstall change nothing: with CLEAN the message's traces were erased, and the
  // gateway's reply text would bring them back. They are answered as taken, so the gateway does not retry.
  const uninstalled = async (portalId: number) => (await deps.portals.findByIdCached(portalId))?.status === 'uninstalled';

  function portalFrom(req: Request): number {
    const portalId = Number(req.params.portalId);
    if (!Number.isInteger(portalId) || !safeEqual(String(req.params.token), dlrToken(deps.crypto, portalId))) throw forged();
    return portalId;
  }

  /**
   * A report that names one of our messages in its URL (Kannel's dlr-url, the sandbox's): the portal's secret, the
   * message of that portal (and of that gateway, when `gateway` is given), the status read by `read`, applied.
   */
  function perMessage(kind: string, read: (req: Request) => GatewayStatus | undefined, why: (req: Request) => string, gateway?: string) {
    return async (req: Request, res: Response) => {
      const portalId = portalFrom(req);
      if (await uninstalled(portalId)) return void res.type('text').send('ok');
      const m = await deps.queue.ownerOf(Number(req.params.messageId));
      if (!m || Number(m.portal_id) !== portalId || (gateway && m.gateway !== gateway)) throw new AppError('not_found', 404, 'no such message');
      const status = read(req);
      if (!status) throw new AppError('invalid_request', 400, why(req));
      const changed = await applyGatewayStatus(deps.queue, m.id, status, deps.clock());
      if (changed && status.state !== 'sent') deps.onSettled?.();
      deps.log.info({ messageId: m.id, code: status.code, state: status.state, changed }, `dlr.${kind}`);
      res.type('text').send('ok');
    };
  }

  router.all('/dlr/kannel/:portalId/:token/:messageId', perMessage(
    'kannel',
    (req) => kannelDlr(Number(req.query.type), typeof req.query.reply === 'string' ? req.query.reply : undefined),
    (req) => `unknown DLR type ${String(req.query.type)}`,
  ));

  // The sandbox gateway's reports (gateways/sandbox.ts): this service posts them to itself, the way a push gateway
  // would. Only a message the sandbox took: a real gateway's message is settled by that gateway alone.
  router.post('/dlr/sandbox/:portalId/:token/:messageId', express.urlencoded({ extended: false, limit: '4kb' }), perMessage(
    'sandbox',
    (req) => sandboxReport(String(req.body?.status ?? '')),
    () => 'unknown sandbox status',
    'sandbox',
  ));

  // SMS.ru posts data[0..n] records and hash = sha256(api_id + data[0] + data[1] + …) (gateways.md §1).
  router.post('/dlr/smsru/:portalId/:token', express.urlencoded({ extended: true, limit: '1mb' }), async (req, res) => {
    const portalId = portalFrom(req);
    if (await uninstalled(portalId)) return void res.type('text').send('100');
    const s = await deps.settings.get(portalId);
    if (!s || s.gateway !== 'smsru') throw forged();
    const data: string[] = Array.isArray(req.body?.data) ? req.body.data.map(String) : Object.values((req.body?.data ?? {}) as Record<string, string>).map(String);
    const expected = createHash('sha256').update((s.credentials.api_key ?? '') + data.join('')).digest('hex');
    if (!safeEqual(String(req.body?.hash ?? '').toLowerCase(), expected)) throw forged();
    let settled = false;
    for (const record of data) {
      const [kind, id, code] = record.split('\n');
      if (kind !== 'sms_status' || !id) continue; // heartbeats ("test") and call checks are ignored
      const status = smsruStatus(Number(code));
      const m = status && (await deps.queue.byGatewayId(portalId, id));
      if (!m || !status) continue;
      if ((await applyGatewayStatus(deps.queue, m.id, status, deps.clock())) && status.state !== 'sent') settled = true;
    }
    if (settled) deps.onSettled?.();
    res.type('text').send('100'); // anything else makes SMS.ru retry the whole callback later
  });

  return router;
}
